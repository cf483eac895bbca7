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
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0
	}
	before := residentOf("/proc/self/smaps_rollup")
	for _, m := range cleanExeMappings(smaps, strconv.FormatUint(st.Ino, 10)) {
		unix.Syscall(unix.SYS_MADVISE, uintptr(m[0]), uintptr(m[1]-m[0]), unix.MADV_DONTNEED)
	}
	return before - residentOf("/proc/self/smaps_rollup")
}

// cleanExeMappings lists [start, end) of the binary's (inode ino) mappings
// that are not writable and hold no private copies of pages. A mapping
// with Anonymous pages was written before it was made read-only (a PIE
// or dynamically linked binary's relocated RELRO data): dropping those
// would bring back the file's unrelocated bytes, so it is skipped.
func cleanExeMappings(smaps []byte, ino string) [][2]uint64 {
	var out [][2]uint64
	var cur [2]uint64
	in := false
	flush := func() {
		if in {
			out = append(out, cur)
		}
		in = false
	}
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4 {
			// start-end perms offset dev inode [path]: a new mapping
			flush()
			if len(f) < 6 || strings.Contains(f[1], "w") || f[4] != ino {
				continue
			}
			lo, hi, _ := strings.Cut(f[0], "-")
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil || end <= start {
				continue
			}
			cur, in = [2]uint64{start, end}, true
			continue
		}
		if in && len(f) == 3 && f[0] == "Anonymous:" && f[1] != "0" {
			in = false // holds private copies: leave it alone
		}
	}
	flush()
	return out
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
