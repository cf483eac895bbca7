package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/store"
)

// TestSIGTERMDuringSendLosesNothing sends mail from several real SMTP
// clients into a real `authsmtp serve`, sends SIGTERM in the middle, and
// checks that every message the server acknowledged with 250 is in the
// mailbox exactly once after the process exits. One client is held in
// the middle of DATA when the signal arrives: the graceful stop must let
// it finish and acknowledge it.
func TestSIGTERMDuringSendLosesNothing(t *testing.T) {
	bin := authsmtpBinary(t)
	data := t.TempDir()
	for _, c := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"domain", "add", "term.test"}},
		{"", []string{"domain", "enable", "term.test", "smtp"}},
		{"Ann-pass-k9W!q\n", []string{"user", "add", "ann@term.test"}},
	} {
		opsMustCLI(t, bin, data, c.stdin, c.args...)
	}
	srv := startOpsServe(t, bin, data, []string{"submission"},
		"AUTHSMTP_GRACE=8s", "AUTHSMTP_SEND_PER_HOUR=1000000", "AUTHSMTP_SEND_PER_DAY=1000000", "AUTHSMTP_RCPTS_PER_DAY=1000000")
	addr := srv.Addr("submission")

	dial := func() (*gosmtp.Client, error) {
		c, err := gosmtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return nil, err
		}
		if err := c.Auth(sasl.NewPlainClient("", "ann@term.test", "Ann-pass-k9W!q")); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	msg := func(subj string) string {
		return "From: ann@term.test\r\nTo: ann@term.test\r\nSubject: " + subj + "\r\n\r\n" + strings.Repeat("line of body text\r\n", 100)
	}

	var mu sync.Mutex
	acked := map[string]bool{}
	ack := func(s string) { mu.Lock(); acked[s] = true; mu.Unlock() }
	nacked := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }

	// The held client: everything up to the middle of DATA now.
	held, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	if err := held.Mail("ann@term.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := held.Rcpt("ann@term.test", nil); err != nil {
		t.Fatal(err)
	}
	hw, err := held.Data()
	if err != nil {
		t.Fatal(err)
	}
	full := msg("held")
	io.WriteString(hw, full[:len(full)/2])

	// Busy clients send until the server stops answering.
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := dial()
			if err != nil {
				t.Errorf("client %d: %v", w, err)
				return
			}
			defer c.Close()
			for i := 0; ; i++ {
				subj := fmt.Sprintf("busy-%d-%d", w, i)
				if c.Mail("ann@term.test", nil) != nil || c.Rcpt("ann@term.test", nil) != nil {
					return
				}
				wc, err := c.Data()
				if err != nil {
					return
				}
				io.WriteString(wc, msg(subj))
				if wc.Close() != nil {
					return // not acknowledged: the client would retry it
				}
				ack(subj)
			}
		}(w)
	}
	// Signal once mail is flowing.
	deadline := time.Now().Add(30 * time.Second)
	for nacked() < 20 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if nacked() < 20 {
		t.Fatalf("mail is not flowing: %d acknowledged\n%s", nacked(), srv.Logs())
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	for !strings.Contains(srv.Logs(), `"msg":"shutting down"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no shutdown logged\n%s", srv.Logs())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// New connections are refused (the listener closes right after the
	// log line; allow it a moment).
	refused := false
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			refused = true
			break
		}
		c.Close()
	}
	if !refused {
		t.Error("new connections still accepted 2s after SIGTERM")
	}
	// The held session finishes its message within the grace period.
	io.WriteString(hw, full[len(full)/2:])
	if err := hw.Close(); err != nil {
		t.Errorf("the message in DATA at SIGTERM was not acknowledged: %v", err)
	} else {
		ack("held")
	}
	held.Quit()
	wg.Wait()
	var exitErr error
	select {
	case exitErr = <-srv.exit:
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not exit\n%s", srv.Logs())
	}
	if exitErr != nil {
		t.Fatalf("serve exit: %v\n%s", exitErr, srv.Logs())
	}

	st, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ms, err := st.ListMessages("ann@term.test", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, m := range ms {
		body, err := st.Body(m.BodyID)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(body), "\r\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				count[s]++
				break
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for s := range acked {
		if count[s] != 1 {
			t.Errorf("acknowledged message %s is stored %d times", s, count[s])
		}
	}
	if !acked["held"] {
		t.Error("held message not acknowledged")
	}
	t.Logf("%d messages acknowledged, %d stored", len(acked), len(ms))
}
