package e2e

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// Submission load for the cluster tests: clients that submit numbered,
// self-checking messages without pause and record every reply, and the
// check over IMAP that what was acknowledged is in the mailbox once and
// whole.

// loadFlags lift the per-login send caps out of the way of the load.
var loadFlags = []string{"--send-per-hour", "1000000", "--send-per-day", "1000000", "--rcpts-per-day", "1000000"}

// loadBody is the body of the message with this subject: its size (1 to
// 24 KiB, over several lines) and every line derive from the subject, so
// a truncated or mixed-up body shows.
func loadBody(subject string) string {
	n, _ := strconv.Atoi(subject[strings.LastIndexByte(subject, '-')+1:])
	var b strings.Builder
	for i := range 16 + (n*37)%368 { // 64-byte lines
		fmt.Fprintf(&b, "%-20s line %04d %s\r\n", subject, i, strings.Repeat("x", 33))
	}
	return b.String()
}

func loadMsg(subject string) string {
	return "From: " + clUser + "\r\nTo: " + clUser + "\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + subject + "@load.cluster.test>\r\n\r\n" + loadBody(subject)
}

// reply is one submission attempt's outcome.
type reply struct {
	client  string
	subject string // "" when it failed before a message was under way
	code    string // "250", "451", …, or "none" when the connection broke
	at      time.Time
	err     error
}

// loadRun is the record of every client's attempts.
type loadRun struct {
	mu      sync.Mutex
	replies []reply
	stop    chan struct{}
	wg      sync.WaitGroup
}

func startLoad() *loadRun { return &loadRun{stop: make(chan struct{})} }

func (l *loadRun) note(r reply) {
	l.mu.Lock()
	l.replies = append(l.replies, r)
	l.mu.Unlock()
}

// snapshot is the attempts so far.
func (l *loadRun) snapshot() []reply {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]reply(nil), l.replies...)
}

// acked is the subjects that got a 250, and when.
func (l *loadRun) acked() map[string]time.Time {
	m := map[string]time.Time{}
	for _, r := range l.snapshot() {
		if r.code == "250" {
			m[r.subject] = r.at
		}
	}
	return m
}

// count is how many replies of client (prefix) with code came after t.
func (l *loadRun) count(client, code string, after time.Time) int {
	n := 0
	for _, r := range l.snapshot() {
		if strings.HasPrefix(r.client, client) && r.code == code && r.at.After(after) {
			n++
		}
	}
	return n
}

// client submits messages named NAME-SEQ to addr without pause, one
// transaction after the other on one connection, reconnecting after an
// error, until halt.
func (l *loadRun) client(name string, addr func() string) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		seq := 0
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			c, err := loadDial(addr())
			if err != nil {
				l.note(reply{client: name, code: replyCode(err), at: time.Now(), err: err})
				select {
				case <-l.stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			for err == nil {
				select {
				case <-l.stop:
					c.Quit()
					c.Close()
					return
				default:
				}
				seq++
				subject := fmt.Sprintf("%s-%d", name, seq)
				err = loadSend(c, subject)
				l.note(reply{client: name, subject: subject, code: replyCode(err), at: time.Now(), err: err})
			}
			c.Close()
		}
	}()
}

// halt stops the clients and waits for them.
func (l *loadRun) halt() {
	close(l.stop)
	l.wg.Wait()
}

func loadDial(addr string) (*gosmtp.Client, error) {
	c, err := gosmtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return nil, err
	}
	c.CommandTimeout, c.SubmissionTimeout = 30*time.Second, 30*time.Second
	if err := c.Auth(sasl.NewPlainClient("", clUser, clPW)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func loadSend(c *gosmtp.Client, subject string) error {
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
	if _, err := io.WriteString(w, loadMsg(subject)); err != nil {
		return err
	}
	return w.Close()
}

// replyCode is "250" for nil, the SMTP code of a reply, or "none" when
// the connection failed without one.
func replyCode(err error) string {
	var se *gosmtp.SMTPError
	switch {
	case err == nil:
		return "250"
	case errors.As(err, &se):
		return strconv.Itoa(se.Code)
	default:
		return "none"
	}
}

// tally is "code×count" per code, for the log.
func tally(rs []reply) string {
	m := map[string]int{}
	for _, r := range rs {
		m[r.code]++
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// checkMailbox fetches the whole INBOX over IMAP at addr and checks that
// every acknowledged subject is there exactly once, that no subject is
// there twice, and that every message of the load is whole (its body,
// Message-ID and size as sent). It returns the subjects the INBOX holds.
func checkMailbox(t *testing.T, addr string, acked map[string]time.Time) map[string]int {
	t.Helper()
	ic := imapLogin(t, addr, nil)
	sel, err := ic.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		t.Fatalf("INBOX empty; %d messages acknowledged", len(acked))
	}
	var all goimap.SeqSet
	all.AddRange(1, sel.NumMessages)
	msgs, err := ic.Fetch(all, &goimap.FetchOptions{
		Envelope: true, RFC822Size: true, BodySection: []*goimap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range msgs {
		subject := m.Envelope.Subject
		seen[subject]++
		var raw []byte
		for _, b := range m.BodySection {
			raw = b.Bytes
		}
		if int64(len(raw)) != m.RFC822Size {
			t.Errorf("%s: RFC822.SIZE %d but %d bytes fetched", subject, m.RFC822Size, len(raw))
		}
		_, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
		if !ok || string(body) != loadBody(subject) {
			t.Errorf("%s: body of %d bytes is not the %d sent", subject, len(body), len(loadBody(subject)))
		}
		if want := subject + "@load.cluster.test"; len(m.Envelope.MessageID) == 0 || m.Envelope.MessageID != want {
			t.Errorf("%s: Message-ID %q, want %q", subject, m.Envelope.MessageID, want)
		}
	}
	if len(msgs) != int(sel.NumMessages) {
		t.Errorf("FETCH 1:%d returned %d messages", sel.NumMessages, len(msgs))
	}
	for s, n := range seen {
		if n > 1 {
			t.Errorf("%s is in the INBOX %d times", s, n)
		}
	}
	missing := 0
	for s := range acked {
		if seen[s] == 0 {
			missing++
			if missing <= 10 {
				t.Errorf("%s got a 250 at %s but is not in the INBOX", s, acked[s].Format("15:04:05.000"))
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged messages missing", missing, len(acked))
	}
	return seen
}

// unacked is the messages that were under way (a subject given) but got
// no 250, and how many of them are in seen anyway (committed, but the
// node died or the database went away before the reply).
func (l *loadRun) unacked(seen map[string]int) (sent, present int) {
	for _, r := range l.snapshot() {
		if r.subject != "" && r.code != "250" {
			sent++
			if seen[r.subject] > 0 {
				present++
			}
		}
	}
	return sent, present
}
