// Package faults holds fault and high-availability tests of herald: they run
// the real manager binary (cmd/herald) as child processes against one
// envtest API server, kill it, stop the API server under it, race it with
// other clients and run two replicas with leader election, and check after
// each scenario that no delivery was lost and that receivers saw no call
// herald did not record, except calls in flight when a manager was killed.
//
// The tests are Linux-only: they tell which manager process made a call by
// the owner of the calling socket in /proc.
package faults
