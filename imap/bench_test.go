package imap

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/store"
)

// The benchmarks follow BENCHMARKS.md: 10,000 messages of about 10 KiB
// in INBOX (text from a fixed pseudo-word vocabulary, as mailbench
// makes), read over IMAPS on loopback with go-imap's client.
//
//	go test -run XXX -bench . -benchtime 10x ./imap/
const (
	benchMessages = 10000
	benchSize     = 10 << 10
)

var benchWords = func() []string {
	r := rand.New(rand.NewPCG(1, 2))
	w := make([]string, 4000)
	for i := range w {
		b := make([]byte, 4+r.IntN(6))
		for j := range b {
			b[j] = 'a' + byte(r.IntN(26))
		}
		w[i] = string(b)
	}
	return w
}()

func benchMessage(i int) []byte {
	r := rand.New(rand.NewPCG(1, uint64(i)))
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <bench@imap.test>\r\nTo: <alice@imap.test>\r\nSubject: bench %d %s %s\r\n", i, benchWords[r.IntN(4000)], benchWords[r.IntN(4000)])
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%d@bench.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", time.Now().Format(time.RFC1123Z), i)
	line := 0
	for b.Len() < benchSize {
		w := benchWords[r.IntN(4000)]
		if line+len(w) > 72 {
			b.WriteString("\r\n")
			line = 0
		} else if line > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

var (
	benchOnce sync.Once
	benchTS   *testServer
	benchUIDs []goimap.UID
)

type benchTB struct {
	testing.TB
	dir string
}

func (b *benchTB) TempDir() string { return b.dir }
func (b *benchTB) Cleanup(func())  {} // the benchmark server lives until the process ends

// benchServer fills a store once per test binary (without fsync, to be
// quick) and starts a server on it.
func benchServer(b *testing.B) *testServer {
	benchOnce.Do(func() {
		// IMAP_BENCH_DIR keeps the filled store for the next run (to
		// compare two builds without filling twice).
		dir := os.Getenv("IMAP_BENCH_DIR")
		filled := false
		if dir != "" {
			_, err := os.Stat(dir)
			filled = err == nil
		} else {
			var err error
			if dir, err = os.MkdirTemp("", "imapbench"); err != nil {
				b.Fatal(err)
			}
		}
		tb := &benchTB{TB: b, dir: dir}
		st, err := store.Open(dir, store.Options{NoSync: true, Logger: testutil.Logger(tb)})
		if err != nil {
			b.Fatal(err)
		}
		if !filled {
			testutil.Domain(tb, st, testDomain, testDomPW, true)
			testutil.User(tb, st, testUser, testPassword)
		}
		t0 := time.Now()
		for i := 0; i < benchMessages && !filled; i++ {
			m := benchMessage(i)
			if _, err := st.AppendMeta(testUser, "INBOX", m, nil, time.Time{}, encodeMeta(parseMeta(m))); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("filled %d messages in %s", benchMessages, time.Since(t0))
		benchTS = startServer(&testing.T{}, st)
	})
	return benchTS
}

func benchClient(b *testing.B, ts *testServer) *imapclient.Client {
	c, err := imapclient.DialTLS(ts.tls, &imapclient.Options{TLSConfig: ts.clientTLS})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkSelect(b *testing.B) {
	ts := benchServer(b)
	c := benchClient(b, ts)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := c.Select("INBOX", nil).Wait()
		if err != nil || d.NumMessages != benchMessages {
			b.Fatalf("SELECT %+v %v", d, err)
		}
	}
}

func BenchmarkFetchAllEnvelopes(b *testing.B) {
	ts := benchServer(b)
	c := benchClient(b, ts)
	c.Select("INBOX", nil).Wait()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := c.Fetch(goimap.UIDSet{{Start: 1, Stop: 0}}, &goimap.FetchOptions{UID: true, Flags: true, Envelope: true, RFC822Size: true})
		n := 0
		for m := cmd.Next(); m != nil; m = cmd.Next() {
			for it := m.Next(); it != nil; it = m.Next() {
			}
			n++
		}
		if err := cmd.Close(); err != nil || n != benchMessages {
			b.Fatalf("FETCH: %d messages, %v", n, err)
		}
	}
}

func BenchmarkFetch100Bodies(b *testing.B) {
	ts := benchServer(b)
	c := benchClient(b, ts)
	c.Select("INBOX", nil).Wait()
	r := rand.New(rand.NewPCG(3, 4))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < 100; j++ {
			uid := goimap.UID(1 + r.IntN(benchMessages))
			cmd := c.Fetch(goimap.UIDSetNum(uid), &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{{Peek: true}}})
			var got int64
			for m := cmd.Next(); m != nil; m = cmd.Next() {
				for it := m.Next(); it != nil; it = m.Next() {
					if bs, ok := it.(imapclient.FetchItemDataBodySection); ok && bs.Literal != nil {
						got, _ = io.Copy(io.Discard, bs.Literal)
					}
				}
			}
			if err := cmd.Close(); err != nil || got < benchSize {
				b.Fatalf("body of %d: %d bytes, %v", uid, got, err)
			}
		}
	}
}

func BenchmarkSearchText(b *testing.B) {
	ts := benchServer(b)
	c := benchClient(b, ts)
	c.Select("INBOX", nil).Wait()
	word := "zzzzzzz"
	for _, w := range benchWords {
		if len(w) >= 7 {
			word = w
			break
		}
	}
	b.ResetTimer()
	hits := 0
	for i := 0; i < b.N; i++ {
		d, err := c.UIDSearch(&goimap.SearchCriteria{Text: []string{word}}, nil).Wait()
		if err != nil {
			b.Fatal(err)
		}
		hits = len(d.AllUIDs())
	}
	b.ReportMetric(float64(hits), "hits")
}

// BenchmarkAppend measures APPEND of 10 KiB messages on one connection,
// each durably committed (fsync), as a client filling a mailbox does.
func BenchmarkAppend(b *testing.B) {
	dir := b.TempDir()
	st, err := store.Open(dir, store.Options{Logger: testutil.Logger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	testutil.Domain(b, st, testDomain, testDomPW, true)
	testutil.User(b, st, testUser, testPassword)
	ts := startServer(&testing.T{}, st)
	defer ts.srv.Close()
	c := benchClient(b, ts)
	msgs := make([][]byte, 64)
	for i := range msgs {
		msgs[i] = benchMessage(i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := msgs[i%len(msgs)]
		cmd := c.Append("INBOX", int64(len(m)), nil)
		cmd.Write(m)
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkWireFetchAllEnvelopes is BenchmarkFetchAllEnvelopes read by
// the raw client (wire_test.go): the server's own cost, without the time
// go-imap's client takes to parse 10,000 envelopes.
func BenchmarkWireFetchAllEnvelopes(b *testing.B) {
	ts := benchServer(b)
	w := dialWire(b, ts)
	w.must(b, "SELECT INBOX", io.Discard)
	b.ResetTimer()
	defer reportCPU(b)()
	var n int64
	for i := 0; i < b.N; i++ {
		n = w.must(b, "UID FETCH 1:* (FLAGS ENVELOPE RFC822.SIZE)", io.Discard)
	}
	b.ReportMetric(float64(n), "bytes")
}

// BenchmarkWireFetch100Bodies is BenchmarkFetch100Bodies read by the raw
// client.
func BenchmarkWireFetch100Bodies(b *testing.B) {
	ts := benchServer(b)
	w := dialWire(b, ts)
	w.must(b, "SELECT INBOX", io.Discard)
	r := rand.New(rand.NewPCG(3, 4))
	b.ResetTimer()
	defer reportCPU(b)()
	for i := 0; i < b.N; i++ {
		for j := 0; j < 100; j++ {
			uid := 1 + r.IntN(benchMessages)
			if n := w.must(b, fmt.Sprintf("UID FETCH %d BODY.PEEK[]", uid), io.Discard); n < benchSize {
				b.Fatalf("body of %d: %d bytes", uid, n)
			}
		}
	}
}
