package e2e

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"
)

// TestClusterDurableFsyncOn: the shared throwaway cluster runs with fsync
// off for speed; here a cluster of its own runs as production does
// (fsync, synchronous_commit and full_page_writes on). Two nodes take
// submissions from several clients at once; node 1 is killed -9, then
// PostgreSQL itself crashes (immediate shutdown: recovery from the WAL)
// under the same load. Every message that got its 250 is in the INBOX
// exactly once.
func TestClusterDurableFsyncOn(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	pg := pgtest.StartT(t, pgtest.Config{Settings: []string{"fsync=on", "synchronous_commit=on", "full_page_writes=on"}})
	url := pg.URL("postgres")
	bin := authsmtpBinary(t)
	setup := t.TempDir()
	for _, s := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"domain", "add", clDomain}},
		{"", []string{"domain", "enable", clDomain, "smtp"}},
		{clPW + "\n", []string{"user", "add", clUser}},
	} {
		if code, _, errOut := cli(t, setup, s.stdin, append(s.args, "--store", url)...); code != 0 {
			t.Fatalf("%v: %s", s.args, errOut)
		}
	}
	var nodes []*proc
	for i := range 2 {
		nodes = append(nodes, startServeEnv(t, bin, t.TempDir(), nil, "--store", url,
			"--hostname", fmt.Sprintf("node%d.cluster.test", i+1), "--imap", "127.0.0.1:0",
			"--send-per-hour", "100000", "--send-per-day", "100000", "--rcpts-per-day", "100000"))
	}

	var killed atomic.Bool
	var mu sync.Mutex
	acked := map[string]bool{}
	tried := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := nodes[g%2]
			for i := 0; ; {
				select {
				case <-stop:
					return
				default:
				}
				if killed.Load() {
					node = nodes[1] // node 1 was killed: its clients move over
				}
				c, err := gosmtp.DialStartTLS(node.addr("submission"), &tls.Config{InsecureSkipVerify: true})
				if err == nil {
					err = c.Auth(sasl.NewPlainClient("", clUser, clPW))
				}
				for err == nil {
					select {
					case <-stop:
						c.Quit()
						return
					default:
					}
					subject := fmt.Sprintf("d-%d-%d", g, i)
					i++
					mu.Lock()
					tried++
					mu.Unlock()
					if err = sendOne(c, subject); err == nil {
						mu.Lock()
						acked[subject] = true
						mu.Unlock()
						continue
					}
					var se *gosmtp.SMTPError
					if errors.As(err, &se) && se.Code/100 == 4 {
						err = c.Reset() // try again later on the same connection
					}
				}
				if c != nil {
					c.Close()
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitAcked := func(n int, what string) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); count() < n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d messages acknowledged, want %d", what, count(), n)
			}
		}
	}
	waitAcked(30, "before the kill")
	killed.Store(true)
	nodes[0].kill()
	waitAcked(count()+20, "node 2 after node 1 was killed")
	if err := pg.Crash(); err != nil {
		t.Fatal(err)
	}
	waitAcked(count()+20, "after PostgreSQL recovered")
	close(stop)
	wg.Wait()

	subjects := inboxSubjects(t, nodes[1].addr("imap"))
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d submissions tried, %d acknowledged, %d in the INBOX", tried, len(acked), len(subjects))
	for s := range acked {
		if n := subjects[s]; n != 1 {
			t.Errorf("acknowledged message %s is in the INBOX %d times, want exactly once", s, n)
		}
	}
	for s, n := range subjects {
		if n > 1 {
			t.Errorf("message %s is in the INBOX %d times", s, n)
		}
	}
}

// sendOne sends one message on an authenticated connection.
func sendOne(c *gosmtp.Client, subject string) error {
	if err := c.Mail(clUser, nil); err != nil {
		return err
	}
	if err := c.Rcpt(clUser, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, clMsg(subject)); err != nil {
		return err
	}
	return w.Close()
}

// inboxSubjects counts the INBOX's messages by Subject, over IMAP.
func inboxSubjects(t *testing.T, addr string) map[string]int {
	t.Helper()
	c := imapLogin(t, addr, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var all imap.SeqSet
	all.AddRange(1, 0) // 1:*
	msgs, err := c.Fetch(all, &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, m := range msgs {
		out[strings.TrimSpace(m.Envelope.Subject)]++
	}
	return out
}
