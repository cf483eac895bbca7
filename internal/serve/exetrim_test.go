//go:build linux

package serve

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// exeResident is how much of this binary's own read-only mappings is
// resident (from /proc/self/smaps).
func exeResident(t *testing.T) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	ino := strconv.FormatUint(st.Ino, 10)
	var total int64
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4 {
			in = len(f) >= 6 && f[4] == ino && !strings.Contains(f[1], "w")
			continue
		}
		if in && len(f) == 3 && f[0] == "Rss:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			total += kb << 10
		}
	}
	return total
}

// TestDropExecutablePages: the binary's read-only pages leave the
// resident set, and the program keeps running (they come back on use).
func TestDropExecutablePages(t *testing.T) {
	before := exeResident(t)
	if before < 1<<20 {
		t.Skipf("only %d KiB of the test binary resident: nothing to measure", before>>10)
	}
	dropped := dropExecutablePages()
	after := exeResident(t)
	if after > before/2 || dropped <= 0 {
		t.Fatalf("binary resident %d KiB before, %d KiB after (dropped reported %d KiB); want under half", before>>10, after>>10, dropped>>10)
	}
	// Code runs on: the pages are mapped back from the page cache.
	if s := strings.Repeat("ab", 3); s != "ababab" {
		t.Fatal(s)
	}
}

// TestCleanExeMappingsSkipsPrivateCopies: a read-only mapping of the
// binary that holds private copies (relocated RELRO data of a PIE build)
// is never dropped; writable mappings and other files are not either.
func TestCleanExeMappingsSkipsPrivateCopies(t *testing.T) {
	smaps := []byte(`00400000-00800000 r-xp 00000000 08:01 42 /bin/authsmtp
Rss:                4096 kB
Anonymous:             0 kB
00800000-00900000 r--p 00400000 08:01 42 /bin/authsmtp
Rss:                  64 kB
Anonymous:            64 kB
00900000-00a00000 rw-p 00500000 08:01 42 /bin/authsmtp
Anonymous:             4 kB
00a00000-00b00000 r--p 00000000 08:01 43 /lib/other.so
Anonymous:             0 kB
00b00000-00c00000 r--p 00600000 08:01 42 /bin/authsmtp
Anonymous:             0 kB
`)
	got := cleanExeMappings(smaps, "42")
	want := [][2]uint64{{0x400000, 0x800000}, {0xb00000, 0xc00000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("cleanExeMappings = %x, want %x", got, want)
	}
}
