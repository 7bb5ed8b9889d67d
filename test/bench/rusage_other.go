//go:build !unix

package main

// rusage is not measured on this system.
func rusage() (cpu float64, maxrss uint64) { return 0, 0 }
