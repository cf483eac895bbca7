package serve

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// dropExecutablePages takes the binary's read-only mappings (code,
// read-only data, the runtime's function tables) out of the resident set
// once the server is up, and returns how many bytes were resident there.
//
// The kernel maps a file's pages in 64 KiB at a time around each first
// touch (fault-around), so starting the services left some 23 MiB of the
// 50 MB binary resident: most of the idle server's 31 MiB RSS, and most of
// it code that start-up ran once. These are clean pages of the file,
// never written (the writable data segment is left alone): dropped, they
// stay in the page cache, and a later touch maps them back (a minor
// fault, no I/O). store/maptrim.go does the same for the database's
// mapping.
func dropExecutablePages() int64 {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err != nil {
		return 0
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0
	}
	before := residentOf("/proc/self/smaps_rollup")
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// start-end perms offset dev inode path
		f := strings.Fields(sc.Text())
		if len(f) < 6 || strings.Contains(f[1], "w") || f[4] != strconv.FormatUint(st.Ino, 10) {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			continue
		}
		unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
	}
	return before - residentOf("/proc/self/smaps_rollup")
}

// residentOf is the Rss: line of an smaps file, in bytes.
func residentOf(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Rss:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
