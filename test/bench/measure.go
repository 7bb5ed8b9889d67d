package main

import (
	"bufio"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Latency is a distribution of durations, in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50ms float64 `json:"p50_ms"`
	P95ms float64 `json:"p95_ms"`
	P99ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

func latencyOf(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	pct := func(p float64) float64 {
		// nearest rank
		i := int(p*float64(len(s))+0.999999) - 1
		i = max(0, min(i, len(s)-1))
		return ms(s[i])
	}
	return Latency{Count: len(s), P50ms: pct(0.50), P95ms: pct(0.95), P99ms: pct(0.99), MaxMs: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 3, 64), 64)
	return v
}

// heapInuse is the heap in use after a full collection.
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// resetPeakRSS resets the kernel's peak RSS of the process (Linux ≥ 4.0),
// so that peakRSS then reports the peak since this call. It reports
// whether that worked; elsewhere the peak is the process's lifetime peak.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS is the process's peak resident set size in bytes: VmHWM on
// Linux (reset by resetPeakRSS), else getrusage's maxrss.
func peakRSS() uint64 {
	if v, ok := procStatusBytes("VmHWM:"); ok {
		return v
	}
	_, maxrss := rusage()
	return maxrss
}

// currentRSS is the process's resident set size in bytes (Linux), or zero.
func currentRSS() uint64 {
	v, _ := procStatusBytes("VmRSS:")
	return v
}

func procStatusBytes(field string) (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, field) {
			continue
		}
		fields := strings.Fields(strings.TrimPrefix(line, field))
		if len(fields) == 0 {
			return 0, false
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}

// cpuSeconds is the process's user+system CPU time.
func cpuSeconds() float64 {
	cpu, _ := rusage()
	return cpu
}

func mib(b uint64) float64 { return round3(float64(b) / (1 << 20)) }

func mibSigned(b int64) float64 { return round3(float64(b) / (1 << 20)) }
