package imap

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/store"
)

// BenchmarkScale measures how the cost of SELECT, UID FETCH 1:*
// envelopes, a single-message FETCH, SEARCH TEXT and APPEND grows with the
// size of one mailbox: 1k, 10k and 100k messages of 2 KiB (so 100k stays
// 200 MB on disk), filled through the store in batches (not over IMAP),
// their parses cached as a first FETCH leaves them. The store does not
// fsync, so APPEND measures the work per message, not the disk.
//
//	go test -run XXX -bench Scale -benchtime 5x -timeout 30m ./imap/
//
// BENCH_SCALE=1k,10k picks sizes (default all three).
func BenchmarkScale(b *testing.B) {
	sizes := []int{1000, 10000, 100000}
	if v := os.Getenv("BENCH_SCALE"); v != "" {
		sizes = nil
		for _, f := range splitComma(v) {
			n, err := strconv.Atoi(trimK(f))
			if err != nil {
				b.Fatalf("BENCH_SCALE %q", v)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("n=%dk", n/1000), func(b *testing.B) { benchScale(b, n) })
	}
}

const scaleSize = 2 << 10

func benchScale(b *testing.B, n int) {
	dir, err := os.MkdirTemp("", "imapscale")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	tb := &benchTB{TB: b, dir: dir}
	st, err := store.Open(dir, store.Options{NoSync: true, Logger: testutil.Logger(tb)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	testutil.Domain(tb, st, testDomain, testDomPW, true)
	testutil.User(tb, st, testUser, testPassword)
	t0 := time.Now()
	metas := map[uint64][]byte{}
	for i := 0; i < n; {
		var batch []store.ImportMessage
		for ; i < n && len(batch) < 1000; i++ {
			batch = append(batch, store.ImportMessage{Body: scaleMessage(i)})
		}
		msgs, err := st.AppendBatch(testUser, "INBOX", batch)
		if err != nil {
			b.Fatal(err)
		}
		for j, m := range msgs {
			metas[m.BodyID] = encodeMeta(parseMeta(batch[j].Body))
		}
		if err := st.SetBodyMeta(metas); err != nil {
			b.Fatal(err)
		}
		clear(metas)
	}
	b.Logf("filled %d messages in %s", n, time.Since(t0).Round(time.Millisecond))
	ts := startServer(&testing.T{}, st)
	defer ts.srv.Close()
	w := dialWire(b, ts)
	word := benchWords[0]
	for _, x := range benchWords {
		if len(x) >= 7 {
			word = x
			break
		}
	}
	mid := n / 2
	run := func(name, cmd string) {
		b.Run(name, func(b *testing.B) {
			var bytes int64
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				bytes = w.must(b, cmd, io.Discard)
			}
			b.ReportMetric(float64(bytes), "bytes")
		})
	}
	run("SELECT", "SELECT INBOX")
	run("FETCH1", fmt.Sprintf("UID FETCH %d (UID FLAGS ENVELOPE RFC822.SIZE BODY.PEEK[])", mid))
	run("FETCHALL", "UID FETCH 1:* (FLAGS ENVELOPE RFC822.SIZE)")
	run("SEARCH", "UID SEARCH TEXT "+word)
	b.Run("APPEND", func(b *testing.B) {
		m := scaleMessage(n + 1)
		cmd := fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(m), m)
		for i := 0; i < b.N; i++ {
			w.must(b, cmd, io.Discard)
		}
	})
}

// scaleMessage is benchMessage cut to scaleSize.
func scaleMessage(i int) []byte {
	m := benchMessage(i)
	h := headerLen(m)
	if len(m) <= h+scaleSize {
		return m
	}
	return m[:h+bytes.LastIndex(m[h:h+scaleSize], []byte("\r\n"))+2]
}

func splitComma(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != ',' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

func trimK(s string) string {
	if len(s) > 1 && (s[len(s)-1] == 'k' || s[len(s)-1] == 'K') {
		return s[:len(s)-1] + "000"
	}
	return s
}
