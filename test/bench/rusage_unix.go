//go:build unix

package main

import (
	"runtime"
	"syscall"
)

// rusage returns the process's user+system CPU seconds and its peak RSS in
// bytes.
func rusage() (cpu float64, maxrss uint64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	cpu = float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	maxrss = uint64(ru.Maxrss) //nolint:gosec // never negative
	if runtime.GOOS != "darwin" {
		maxrss <<= 10 // kilobytes elsewhere, bytes on macOS
	}
	return cpu, maxrss
}
