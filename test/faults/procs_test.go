//go:build linux

package faults

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Which manager process made a call: the receivers look the calling
// socket up in /proc. /proc/net/tcp gives, for a loopback connection's
// client end, the socket's inode; /proc/<pid>/fd names the sockets each
// manager holds. A scan reads both and maps every connection of every
// running manager (client address → manager); a receiver scans only when
// it meets a connection it does not know, so a burst of new connections
// costs one scan. The sockets of a manager about to be killed are mapped
// while it is stopped, since the receivers may read its last calls after
// its death.

// owners maps a connection, by its client and server addresses in
// /proc/net/tcp's form, to the manager process that opened it.
var (
	ownersMu sync.Mutex
	owners   = map[string]int{}
)

// peerPID returns the PID of the manager process that opened the loopback
// connection c (c's remote end is the manager's), or 0 when none did.
func peerPID(c net.Conn) int {
	remote, ok1 := c.RemoteAddr().(*net.TCPAddr)
	local, ok2 := c.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return 0
	}
	key := procAddr(remote) + ">" + procAddr(local)
	ownersMu.Lock()
	defer ownersMu.Unlock()
	// A read of /proc/net/tcp is no snapshot and may miss a line while other
	// sockets come and go: scan again before giving up.
	for range 3 {
		if pid, ok := owners[key]; ok {
			return pid
		}
		scanSockets(runningPIDs())
	}
	return 0
}

// noteSockets maps the connections of process pid, which must be stopped.
func noteSockets(pid int) {
	ownersMu.Lock()
	defer ownersMu.Unlock()
	scanSockets([]int{pid})
	scanSockets([]int{pid})
}

// scanSockets maps the TCP connections of the processes. ownersMu is held.
func scanSockets(pids []int) {
	inodes := map[string]int{}
	for _, pid := range pids {
		for inode := range socketInodes(pid) {
			inodes[inode] = pid
		}
	}
	for _, e := range tcpTable() {
		if pid, ok := inodes[e.inode]; ok {
			owners[e.local+">"+e.remote] = pid
		}
	}
}

// socketInodes returns the inodes of the sockets process pid has open.
func socketInodes(pid int) map[string]struct{} {
	fdDir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return nil
	}
	inodes := make(map[string]struct{}, len(entries))
	for _, e := range entries {
		link, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil {
			continue
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = struct{}{}
		}
	}
	return inodes
}

// tcpEntry is a line of /proc/net/tcp.
type tcpEntry struct{ local, remote, inode string }

// tcpBuf is the buffer tcpTable reads into, under ownersMu.
var tcpBuf = make([]byte, 1<<20)

// tcpTable reads /proc/net/tcp, in large reads: the kernel fills each read
// in one go, so fewer reads leave fewer chances to miss a line.
func tcpTable() []tcpEntry {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	var data []byte
	for {
		n, err := f.Read(tcpBuf)
		data = append(data, tcpBuf[:n]...)
		if err != nil || n == 0 {
			break
		}
	}
	var out []tcpEntry
	for line := range strings.Lines(string(data)) {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when
		// retrnsmt uid timeout inode ...
		if fields := strings.Fields(line); len(fields) > 9 && fields[0] != "sl" {
			out = append(out, tcpEntry{local: fields[1], remote: fields[2], inode: fields[9]})
		}
	}
	return out
}

// procAddr formats an IPv4 address as /proc/net/tcp does on a
// little-endian machine: the address as a 32-bit number and the port, both
// in upper-case hex.
func procAddr(a *net.TCPAddr) string {
	ip := a.IP.To4()
	if ip == nil {
		return ""
	}
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], a.Port)
}
