package storetest_test

import (
	"testing"

	"github.com/authsmtp/authsmtp/internal/testutil"
	"github.com/authsmtp/authsmtp/internal/testutil/pgtest"
	"github.com/authsmtp/authsmtp/store"
)

// BenchmarkSendCapsTakePostgres is the per-message price of a send cap
// that holds across nodes: one serializable transaction on the login's
// counter (8 senders of one login at once, the worst case: one hot key).
func BenchmarkSendCapsTakePostgres(b *testing.B) {
	st, err := store.OpenBackend(pgtest.URL(b), b.TempDir(), store.Options{Logger: testutil.Logger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	big := store.SendLimits{PerHour: 1 << 30, PerDay: 1 << 30, RcptsPerDay: 1 << 30}
	b.SetParallelism(4) // 8 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := st.Caps.Take("bench@x.test", big, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
