package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// TestBodySegmentsKill9UnderLoad: with --body-segments, the server is
// killed (SIGKILL) while four clients submit mail of assorted sizes.
// After a restart every acknowledged message is in INBOX exactly once
// and its body reads back byte-exact from the segment files; a hot
// backup taken over the control socket holds the bodies itself (a
// restore into an empty directory reads them all).
func TestBodySegmentsKill9UnderLoad(t *testing.T) {
	bin := authsmtpBinary(t)
	dir := t.TempDir()
	setupDoe(t, dir)
	p := startServe(t, bin, dir, "--capture", "--body-segments")

	var mu sync.Mutex
	acked := map[string]string{} // Message-ID → message as sent
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("<seg-%d-%d@doe.com>", c, i)
				var b strings.Builder
				fmt.Fprintf(&b, "From: john@doe.com\r\nTo: john@doe.com\r\nMessage-ID: %s\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nSubject: seg %d %d\r\n\r\n", id, c, i)
				for b.Len() < 500+(c*7919+i*104729)%60000 {
					fmt.Fprintf(&b, "%s line %d of a body cut at an odd size\r\n", id, b.Len())
				}
				msg := b.String()
				if err := submit(p.addr("submission"), "john@doe.com", "Usr-pass-k9W!q", "john@doe.com", []string{"john@doe.com"}, msg); err != nil {
					return // the kill: unacknowledged, may or may not be stored
				}
				mu.Lock()
				acked[id] = msg
				mu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 60 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.kill() // mid-flight: the clients are sending
	close(stop)
	wg.Wait()
	if len(acked) < 10 {
		t.Fatalf("only %d messages acknowledged before the kill:\n%s", len(acked), p.logs())
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "bodies", "*.seg"))
	if len(segs) == 0 {
		t.Fatal("no segment file in the data directory")
	}

	p2 := startServe(t, bin, dir, "--capture", "--body-segments")
	after := "From: john@doe.com\r\nSubject: after\r\n\r\nafter the kill\r\n"
	if err := submit(p2.addr("submission"), "john@doe.com", "Usr-pass-k9W!q", "john@doe.com", []string{"john@doe.com"}, after); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	bk := filepath.Join(t.TempDir(), "hot.db")
	if code, _, errs := cli(t, dir, "", "backup", bk); code != 0 {
		t.Fatalf("backup: %s", errs)
	}
	p2.kill()

	check := func(where string) {
		t.Helper()
		st, err := store.Open(where, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ms, err := st.ListMessages("john@doe.com", "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, m := range ms {
			body, err := st.Body(m.BodyID)
			if err != nil {
				t.Fatalf("%s: message %d: %v", where, m.UID, err)
			}
			for id, msg := range acked {
				if bytes.Contains(body, []byte("Message-ID: "+id+"\r\n")) {
					seen[id]++
					if !bytes.HasSuffix(body, []byte(msg[strings.Index(msg, "Message-ID:"):])) {
						t.Errorf("%s: message %s: body differs from what was sent", where, id)
					}
				}
			}
		}
		for id := range acked {
			if seen[id] != 1 {
				t.Errorf("%s: acknowledged message %s stored %d times", where, id, seen[id])
			}
		}
		if err := st.Check(); err != nil {
			t.Fatal(err)
		}
	}
	check(dir)

	restored := t.TempDir()
	if _, _, err := store.Restore(restored, bk); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(restored, "bodies")); err == nil {
		t.Fatal("a restore into an empty directory made a bodies directory: the backup is not one file")
	}
	check(restored)
}
