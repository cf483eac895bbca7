package smtp

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"
	"github.com/authsmtp/authsmtp/store"
)

// BenchmarkSubmission measures authenticated submission end to end on
// loopback as BENCHMARKS.md does: 8 concurrent clients, STARTTLS + AUTH
// PLAIN, 10 KiB messages to a hosted user, 50 messages per connection,
// fsync on. It reports msgs/s and the p50/p99 latency from MAIL to the
// final 250.
func BenchmarkSubmission(b *testing.B) { benchSubmission(b, testutil.Store(b)) }

// BenchmarkSubmissionPostgres is BenchmarkSubmission with the store on
// PostgreSQL (the tests' throwaway cluster, fsync off).
func BenchmarkSubmissionPostgres(b *testing.B) {
	st, err := store.OpenBackend(pgtest.URL(b), b.TempDir(), store.Options{Logger: testutil.Logger(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	benchSubmission(b, st)
}

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func benchSubmission(b *testing.B, st *store.Store) {
	const clients, perConn, size = 8, 50, 10 << 10
	testutil.Domain(b, st, "example.test", "Bench-pass-9Q!x", true)
	testutil.User(b, st, "bench@example.test", "Bench-pass-9Q!x")
	st.UpdateUser("bench@example.test", func(u *store.User) error {
		u.Limits = store.SendLimits{PerHour: 1 << 30, PerDay: 1 << 30, RcptsPerDay: 1 << 30}
		return nil
	})
	e := startEnv(b, st, nil)

	body := benchMessage(size)
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Load() < int64(b.N) {
				cl, err := gosmtp.DialStartTLS(e.sub, e.client)
				if err != nil {
					failed.Add(1)
					return
				}
				if err := cl.Auth(sasl.NewPlainClient("", "bench@example.test", "Bench-pass-9Q!x")); err != nil {
					failed.Add(1)
					cl.Close()
					return
				}
				for i := 0; i < perConn && next.Add(1) <= int64(b.N); i++ {
					t0 := time.Now()
					if err := sendOn(cl, "bench@example.test", []string{"bench@example.test"}, body); err != nil {
						failed.Add(1)
						continue
					}
					lat[c] = append(lat[c], time.Since(t0))
				}
				cl.Quit()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d failures", failed.Load())
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// benchMessage is a plain message of about size bytes with CRLF lines.
func benchMessage(size int) string {
	var m bytes.Buffer
	fmt.Fprintf(&m, "From: bench@example.test\r\nTo: bench@example.test\r\nSubject: bench\r\n\r\n")
	for m.Len() < size {
		m.WriteString("The quick brown fox jumps over the lazy dog, again and again and again.\r\n")
	}
	return m.String()
}
