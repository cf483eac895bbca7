package store

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// residentFileBytes is the process's resident file-backed memory (the
// third field of /proc/self/statm: the binary's text, and mappings such
// as the database's).
func residentFileBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0, false
	}
	pages, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// dontNeed advises the kernel that the n bytes mapped at addr are not
// needed: their pages leave the resident set (for a shared file mapping
// they stay in the page cache and come back on the next access).
func dontNeed(addr, n uintptr) {
	if addr == 0 || n == 0 {
		return
	}
	unix.Syscall(unix.SYS_MADVISE, addr, n, unix.MADV_DONTNEED)
}
