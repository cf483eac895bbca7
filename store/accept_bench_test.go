package store

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"

	"github.com/authsmtp/authsmtp/store/kv/pgkv"
)

// The store's commit as submission uses it: Accept of a 10 KiB message to
// one hosted user, fsync on, through the group commit. Run with
//
//	go test -run XXX -bench Accept -benchmem ./store/
//
// BenchmarkAccept is one writer (one commit and its fsyncs per message);
// BenchmarkAccept8 is 8 concurrent writers, as 8 SMTP connections, whose
// messages share commits.
func BenchmarkAccept(b *testing.B)  { benchAccept(b, 1) }
func BenchmarkAccept8(b *testing.B) { benchAccept(b, 8) }

func benchAccept(b *testing.B, writers int) { benchAcceptOn(b, authTestStore(b), writers) }

// BenchmarkAcceptSegments and BenchmarkAccept8Segments are the same with
// bodies in segment files (Options.BodySegments).
func BenchmarkAcceptSegments(b *testing.B)  { benchAcceptOn(b, segBenchStore(b), 1) }
func BenchmarkAccept8Segments(b *testing.B) { benchAcceptOn(b, segBenchStore(b), 8) }

func segBenchStore(b *testing.B) *Store {
	st, err := Open(b.TempDir(), Options{BodySegments: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func benchAcceptOn(b *testing.B, st *Store, writers int) {
	if _, err := st.AddDomain("doe.com"); err != nil {
		b.Fatal(err)
	}
	if _, err := st.AddUser("jane@doe.com", "Usr-pass-k9W!q"); err != nil {
		b.Fatal(err)
	}
	var body bytes.Buffer
	body.WriteString("From: <john@doe.com>\r\nTo: <jane@doe.com>\r\nSubject: bench\r\n\r\n")
	for body.Len() < 10<<10 {
		fmt.Fprintf(&body, "line %d of the benchmark message body, seventy-odd characters long\r\n", body.Len())
	}
	in := Incoming{From: "john@doe.com", Login: "john@doe.com", Body: body.Bytes(),
		Local: []LocalRcpt{{Address: "jane@doe.com"}}}
	b.SetBytes(int64(body.Len()))
	b.ReportAllocs()
	// RunParallel starts parallelism × GOMAXPROCS goroutines.
	procs := max(1, writers/runtime.GOMAXPROCS(0))
	b.SetParallelism(procs)
	if pg, ok := st.db.(*pgkv.DB); ok {
		// What a message costs the database: round trips and retries.
		before := pg.Stats()
		defer func() {
			after := pg.Stats()
			b.ReportMetric(float64(after.RoundTrips-before.RoundTrips)/float64(b.N), "roundtrips/op")
			b.ReportMetric(float64(after.Retries-before.Retries)/float64(b.N), "retries/op")
		}()
	}
	b.ResetTimer()
	if writers == 1 {
		for i := 0; i < b.N; i++ {
			m := in
			if _, err := st.Accept(&m); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m := in
			if _, err := st.Accept(&m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
