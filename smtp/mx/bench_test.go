package mx

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/authsmtp/authsmtp/store/junk"
)

// BenchmarkMXAccept measures inbound acceptance: 8 connections, 10 KiB
// messages to a hosted user, each message fully checked (SPF, DKIM, DMARC
// through the test DNS) and committed (fsync on) before its 250.
func BenchmarkMXAccept(b *testing.B) { benchAccept(b, false, false) }

// BenchmarkMXAcceptJunk is the same load with the junk filter off and on
// (trained, so every message is tokenized and scored): the filter must
// keep at least 0.8x of the throughput.
func BenchmarkMXAcceptJunk(b *testing.B) {
	b.Run("filter=off", func(b *testing.B) { benchAccept(b, true, false) })
	b.Run("filter=on", func(b *testing.B) { benchAccept(b, false, true) })
}

func benchAccept(b *testing.B, noFilter, train bool) {
	e := newMX(b, func(c *Config) { c.PerIPPerHour = 1 << 30; c.NoJunkFilter = noFilter })
	if train {
		for i := range 20 {
			e.st.TrainJunk("alice@a.test", junk.Spam, [][]byte{junkMsg(fmt.Sprintf("promo%d@lottery.test", i), "You won", spamText, i)})
			e.st.TrainJunk("alice@a.test", junk.Ham, [][]byte{junkMsg("colleague@work.test", "Meeting notes", hamText, i)})
		}
	}
	body := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,;:-_ 0123456789\r\n", 128)[:10240-200]
	const conns = 8
	per := (b.N + conns - 1) / conns
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			conn, err := net.Dial("tcp", e.addr)
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
				return
			}
			c := gosmtp.NewClient(conn)
			defer c.Close()
			for i := 0; i < per; i++ {
				msg := fmt.Sprintf("From: <news@sender.test>\r\nTo: <alice@a.test>\r\nSubject: bench %d-%d\r\nMessage-ID: <%d.%d@sender.test>\r\n\r\n%s", w, i, w, i, body)
				if err := c.SendMail("news@sender.test", []string{"alice@a.test"}, strings.NewReader(msg)); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
			}
		}(w)
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	b.ReportMetric(float64(per*conns)/el.Seconds(), "msgs/s")
	b.ReportMetric(maxRSSMiB(), "peakRSS-MiB")
}

func maxRSSMiB() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024
}

var _ = io.Discard
