package queue

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
	"github.com/authsmtp/authsmtp/store"
)

// BenchmarkDelivery measures outbound delivery to a loopback receiver
// (STARTTLS offered): b.N queued 10 KiB messages, timed from the start of
// the workers until the queue is empty (every outcome committed).
func BenchmarkDelivery(b *testing.B) {
	e := newEnv(b)
	tlsConf, _ := mailtest.SelfSigned(b, "mx.remote.test")
	rcv := mailtest.StartReceiver(b, tlsConf)
	body := []byte("From: <alice@a.test>\r\nTo: <x@remote.test>\r\nSubject: bench\r\n\r\n" +
		strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,;:-_ 0123456789\r\n", 128)[:10240-80])
	for i := 0; i < b.N; i++ {
		if _, err := e.st.Accept(&store.Incoming{From: "alice@a.test", Remote: []string{fmt.Sprintf("u%d@remote.test", i)}, Body: body}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	e.runner(b, rcv.Port, nil)
	waitQueueEmpty(b, e.st, 10*time.Minute)
	el := time.Since(start)
	b.StopTimer()
	if n := len(rcv.Messages()); n != b.N {
		b.Fatalf("delivered %d of %d", n, b.N)
	}
	conns, _, _ := rcv.Stats()
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
	b.ReportMetric(float64(conns), "conns")
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(ru.Maxrss)/1024, "peakRSS-MiB")
}
