//go:build !linux

package serve

// dropExecutablePages is Linux-only (exetrim_linux.go).
func dropExecutablePages() int64 { return 0 }
