package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// TestBackupUnderSMTPLoad takes `authsmtp backup` from a running server
// while real SMTP clients keep sending (local mailbox and, captured, the
// queue), restores it into a fresh data directory and finds every domain,
// user, password, certificate, and every message and queue entry that
// was acknowledged before the backup started.
func TestBackupUnderSMTPLoad(t *testing.T) {
	bin := authsmtpBinary(t)
	data := t.TempDir()
	for _, c := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"domain", "add", "load.test"}},
		{"", []string{"domain", "enable", "load.test", "smtp"}},
		{"Dom-pass-x7Q!z\n", []string{"domain", "password", "load.test"}},
		{"Pwa-pass-k9W!q\n", []string{"user", "add", "a@load.test"}},
		{"Pwb-pass-k9W!q\n", []string{"user", "add", "b@load.test"}},
	} {
		opsMustCLI(t, bin, data, c.stdin, c.args...)
	}
	srv := startOpsServe(t, bin, data, []string{"submission"}, "AUTHSMTP_CAPTURE=true",
		"AUTHSMTP_SEND_PER_HOUR=1000000", "AUTHSMTP_SEND_PER_DAY=1000000", "AUTHSMTP_RCPTS_PER_DAY=1000000")
	addr := srv.Addr("submission")

	var mu sync.Mutex
	acked := map[string]time.Time{}
	stop := make(chan struct{})
	var n atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				subj := fmt.Sprintf("load-%d-%d", w, i)
				msg := "From: a@load.test\r\nTo: b@load.test\r\nSubject: " + subj + "\r\n\r\n" + strings.Repeat("body\r\n", 200)
				// One local recipient (mailbox) and one remote (queue, captured).
				if err := submit(addr, "a@load.test", "Pwa-pass-k9W!q", "a@load.test", []string{"b@load.test", "x@remote.example"}, msg); err != nil {
					t.Errorf("submit: %v", err)
					return
				}
				mu.Lock()
				acked[subj] = time.Now()
				mu.Unlock()
				n.Add(1)
			}
		}(w)
	}
	for n.Load() < 15 {
		time.Sleep(5 * time.Millisecond)
	}
	backupStart := time.Now()
	bk := filepath.Join(t.TempDir(), "load.db")
	out := opsMustCLI(t, bin, data, "", "backup", bk)
	// Let more mail arrive after the backup too.
	for after := n.Load(); n.Load() < after+5 && time.Since(backupStart) < 20*time.Second; {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if err := srv.Stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "backup written") {
		t.Fatalf("backup: %s", out)
	}

	fresh := filepath.Join(t.TempDir(), "fresh")
	opsMustCLI(t, bin, fresh, "", "restore", bk)
	st, err := store.Open(fresh, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for login, pw := range map[string]string{"load.test": "Dom-pass-x7Q!z", "a@load.test": "Pwa-pass-k9W!q", "b@load.test": "Pwb-pass-k9W!q"} {
		if _, err := st.Authenticate(login, pw); err != nil {
			t.Errorf("login %s after restore: %v", login, err)
		}
	}
	if d, err := st.GetDomain("load.test"); err != nil || !d.SMTP {
		t.Errorf("domain after restore: %+v %v", d, err)
	}
	if keys, err := st.CertList(""); err != nil || len(keys) == 0 {
		t.Errorf("no certificates after restore: %v", err)
	}
	subjectOf := func(body []byte) string {
		for _, l := range strings.Split(string(body), "\r\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				return s
			}
		}
		return ""
	}
	inbox := map[string]bool{}
	ms, err := st.ListMessages("b@load.test", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		b, err := st.Body(m.BodyID)
		if err != nil {
			t.Fatalf("message without body after restore: %v", err)
		}
		inbox[subjectOf(b)] = true
	}
	queued := map[string]bool{}
	q, err := st.ListQueue()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range q {
		b, err := st.Body(e.BodyID)
		if err != nil {
			t.Fatalf("queue entry without body after restore: %v", err)
		}
		queued[subjectOf(b)] = true
	}
	mu.Lock()
	defer mu.Unlock()
	before := 0
	for s, at := range acked {
		if !at.Before(backupStart) {
			continue
		}
		before++
		if !inbox[s] {
			t.Errorf("%s acknowledged before the backup, missing from the restored mailbox", s)
		}
		if !queued[s] {
			t.Errorf("%s acknowledged before the backup, missing from the restored queue", s)
		}
	}
	if before < 15 {
		t.Fatalf("only %d messages before the backup", before)
	}
	t.Logf("%d acknowledged before the backup, %d in total; restored mailbox %d, queue %d", before, len(acked), len(ms), len(q))
}
