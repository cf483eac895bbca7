package store

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
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
