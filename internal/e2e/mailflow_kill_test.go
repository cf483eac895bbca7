package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
)

// kill -9 of a sending instance with messages in flight (see
// mailflow_e2e_test.go for the instance helpers).

func TestKill9WhileDeliveringToForeignMXNoLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	d := mailtest.StartDNS(t)
	d.Add(t, "remote.test. 60 IN MX 10 mx.remote.test.", "mx.remote.test. 60 IN A 127.0.0.1")
	rcv := mailtest.StartReceiver(t, nil)
	gate := make(chan struct{})
	var gateOnce sync.Once
	rcv.OnData = func(int, *mailtest.Received) error {
		<-gate // hold deliveries until everything is queued
		time.Sleep(time.Millisecond)
		return nil
	}
	t.Cleanup(func() { gateOnce.Do(func() { close(gate) }) })

	a := newInstance(t, "AUTHSMTP_TEST_DELIVERY_PORT="+strconv.Itoa(rcv.Port), "AUTHSMTP_DNS="+d.Addr)
	a.cli("", "domain", "add", "a.test")
	a.cli("", "domain", "enable", "a.test", "smtp")
	a.cli("alice-password-1\n", "user", "add", "alice@a.test")
	subPort := freePort(t, "127.0.0.1")
	args := []string{"--tls", "self-signed", "--hostname", "mx.a.test", "--submission", fmt.Sprintf("127.0.0.1:%d", subPort),
		"--submissions", "", "--mx", "", "--imap", "", "--imaps", "", "--https", "", "--http", "",
		"--retry-schedule", "100ms", "--send-per-hour", "100000", "--send-per-day", "100000", "--rcpts-per-day", "100000"}
	a.start(args...)

	const n = 500
	acked := submitNumbered(fmt.Sprintf("127.0.0.1:%d", subPort), "x@remote.test", n)
	if len(acked) != n {
		t.Fatalf("only %d of %d submissions acknowledged", len(acked), n)
	}
	// Let deliveries run, and kill -9 in the middle of them.
	gateOnce.Do(func() { close(gate) })
	deadline := time.Now().Add(60 * time.Second)
	for len(rcv.Messages()) < 100 {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries did not start:\n%s", a.logs())
		}
		time.Sleep(2 * time.Millisecond)
	}
	a.kill()
	before := len(rcv.Messages())
	a.start(args...)
	subjectRe := regexp.MustCompile(`(?m)^Subject: (m-\d+)\r$`)
	counts := map[string]int{}
	deadline = time.Now().Add(120 * time.Second)
	for {
		counts = map[string]int{}
		for _, m := range rcv.Messages() {
			if sm := subjectRe.FindSubmatch(m.Data); sm != nil {
				counts[string(sm[1])]++
			}
		}
		if len(counts) >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart only %d of %d messages arrived", len(counts), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	dups := 0
	for id := range acked {
		switch c := counts[id]; {
		case c == 0:
			t.Errorf("acknowledged message %s lost", id)
		case c > 1:
			dups += c - 1
		}
	}
	t.Logf("killed after %d of %d deliveries; after restart all %d arrived, %d duplicate(s)", before, n, len(counts), dups)
	// A duplicate is possible only for a message the remote side had
	// accepted when the process died, in the one fsync before the queue
	// recorded it: at most one per open connection (4 per destination).
	if dups > 4 {
		t.Errorf("%d duplicates, want at most 4 (one per connection)", dups)
	}
	a.stop()
	if q := a.cli("", "queue", "list"); strings.Count(q, "\n") != 1 {
		t.Errorf("queue not empty at the end:\n%s", q)
	}
}

// kill -9 of the sending instance while 500 messages are in flight to
// another authsmtp: after the restart every acknowledged message is in
// the recipient's INBOX exactly once (a resend of a message the receiver
// had accepted just before the crash is recognised as the same bytes).
func TestKill9WhileDeliveringExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	d := mailtest.StartDNS(t)
	port := freePort(t, "127.0.0.3")
	d.Add(t, "b.test. 60 IN MX 10 mx.b.test.", "mx.b.test. 60 IN A 127.0.0.3")
	env := []string{"AUTHSMTP_TEST_DELIVERY_PORT=" + strconv.Itoa(port), "AUTHSMTP_DNS=" + d.Addr}
	a, b := newInstance(t, env...), newInstance(t, env...)
	a.cli("", "domain", "add", "a.test")
	a.cli("", "domain", "enable", "a.test", "smtp")
	a.cli("alice-password-1\n", "user", "add", "alice@a.test")
	b.cli("", "domain", "add", "b.test")
	b.cli("bob-password-1\n", "user", "add", "bob@b.test")
	subPort := freePort(t, "127.0.0.1")
	aArgs := []string{"--tls", "self-signed", "--hostname", "mx.a.test", "--submission", fmt.Sprintf("127.0.0.1:%d", subPort),
		"--submissions", "", "--mx", "", "--imap", "", "--imaps", "", "--https", "", "--http", "",
		"--retry-schedule", "100ms", "--send-per-hour", "100000", "--send-per-day", "100000", "--rcpts-per-day", "100000"}
	a.start(aArgs...)

	// B is down while A accepts all 500: they wait in A's queue.
	const n = 500
	acked := submitNumbered(fmt.Sprintf("127.0.0.1:%d", subPort), "bob@b.test", n)
	if len(acked) != n {
		t.Fatalf("only %d of %d submissions acknowledged", len(acked), n)
	}
	b.start("--tls", "self-signed", "--hostname", "mx.b.test", "--mx", fmt.Sprintf("127.0.0.3:%d", port),
		"--submission", "", "--submissions", "", "--imap", "", "--imaps", "", "--https", "", "--http", "",
		"--mx-per-ip-per-hour", "100000")
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(b.logs(), "mx message accepted") < 100 {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries did not start:\nA:\n%s\nB:\n%s", a.logs(), b.logs())
		}
		time.Sleep(2 * time.Millisecond)
	}
	a.kill()
	before := strings.Count(b.logs(), "mx message accepted")
	a.start(aArgs...)
	deadline = time.Now().Add(120 * time.Second)
	for strings.Count(a.cli("", "queue", "list"), "\n") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("A's queue did not drain:\n%s", a.cli("", "queue", "list"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	dupsSuppressed := strings.Count(b.logs(), "mx duplicate suppressed")
	b.stop()
	st := b.openStore()
	ms, err := st.ListMessages("bob@b.test", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	subjectRe := regexp.MustCompile(`(?m)^Subject: (m-\d+)\r$`)
	for _, m := range ms {
		body, _ := st.Body(m.BodyID)
		if sm := subjectRe.FindSubmatch(body); sm != nil {
			counts[string(sm[1])]++
		}
	}
	for id := range acked {
		if counts[id] != 1 {
			t.Errorf("acknowledged message %s is in the INBOX %d times", id, counts[id])
		}
	}
	t.Logf("killed A after %d of %d deliveries; %d messages in bob's INBOX; %d resends recognised as duplicates", before, n, len(ms), dupsSuppressed)
	if len(ms) != n {
		t.Errorf("bob's INBOX has %d messages, want %d", len(ms), n)
	}
}

// submitNumbered submits n messages "m-000"... from alice@a.test to rcpt
// over 8 connections at once and returns the ids that were acknowledged.
func submitNumbered(addr, rcpt string, n int) map[string]bool {
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	next := make(chan int)
	go func() {
		for i := 0; i < n; i++ {
			next <- i
		}
		close(next)
	}()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				id := fmt.Sprintf("m-%03d", i)
				msg := "From: <alice@a.test>\r\nTo: <" + rcpt + ">\r\nSubject: " + id + "\r\n\r\nbody " + id + "\r\n"
				if err := submit(addr, "alice@a.test", "alice-password-1", "alice@a.test", []string{rcpt}, msg); err == nil {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return acked
}
