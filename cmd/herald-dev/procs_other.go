//go:build unix && !linux

package main

import "syscall"

// processStartTime returns 0 (unknown) for a running process, and an error
// if there is none with that PID. Without /proc, a reused PID cannot be told
// apart.
func processStartTime(pid int) (uint64, error) {
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return 0, err
	}
	return 0, nil
}

// allPIDs is empty without /proc: leftovers are found from the pids file
// only.
func allPIDs() []int { return nil }

// childProcAttr puts a child in its own process group.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
