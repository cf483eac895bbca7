package store

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// TestMapTrimBoundsScan: a SEARCH-style scan of 64 MiB of bodies through
// bbolt's mapping leaves the process's resident file pages within a few
// trim caps of where they started, not 64 MiB higher.
func TestMapTrimBoundsScan(t *testing.T) {
	if _, ok := residentFileBytes(); !ok {
		t.Skip("no /proc/self/statm: the map trimmer is off on this system")
	}
	st, err := Open(t.TempDir(), Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const user, n, size = "scan@trim.test", 4000, 16 << 10
	mbTestUser(t, st, user)
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	for i := 0; i < n; i++ {
		msg := append([]byte(fmt.Sprintf("Subject: %d\r\n\r\n", i)), body...)
		if _, err := st.Append(user, "INBOX", msg, nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	st.trimMapping()
	start, _ := residentFileBytes()
	var mu sync.Mutex // match runs on several goroutines
	peak, seen, read := start, 0, 0
	_, err = st.SearchMessages(user, "INBOX", nil, true, func(it *SearchItem) bool {
		mu.Lock()
		defer mu.Unlock()
		read += len(it.Body)
		if seen++; seen%64 == 0 {
			if r, _ := residentFileBytes(); r > peak {
				peak = r
			}
		}
		return bytes.Contains(it.Body, []byte("needle"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if read < n*size {
		t.Fatalf("scan read %d bytes, want %d", read, n*size)
	}
	// A chunk of the scan (searchChunk bodies)
	// is mapped before the trim after it, on top of the cap.
	limit := int64(mapResidentCap + searchChunk*size + 8<<20)
	if grew := peak - start; grew > limit {
		t.Errorf("resident file pages grew by %d MiB during a scan of %d MiB; want at most %d MiB", grew>>20, read>>20, limit>>20)
	}
	t.Logf("scan of %d MiB: resident file pages grew by at most %.1f MiB", read>>20, float64(peak-start)/(1<<20))
}

// TestArgonMemoryReturned: once the password-check pool is idle, the 19
// MiB argon2 took for a check goes back to the OS instead of staying in
// the process's resident set until the next collection.
func TestArgonMemoryReturned(t *testing.T) {
	st := mbTestStore(t)
	mbTestUser(t, st, "argon@trim.test")
	// Memory the runtime holds from the OS: all it mapped but what it
	// released.
	held := func() int64 {
		s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
		metrics.Read(s)
		return int64(s[0].Value.Uint64()) - int64(s[1].Value.Uint64())
	}
	runtime.GC()
	debug.FreeOSMemory()
	before := held()
	if _, err := st.Authenticate("argon@trim.test", "Pw-k9W!q-argon@trim.test"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for held() > before+8<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("memory held by the runtime: %d MiB before the login, %d MiB 5 s after; want argon2's %d MiB given back",
				before>>20, held()>>20, argonMemory>>10)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
