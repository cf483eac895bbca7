package e2e

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authsmtp/authsmtp/internal/mailtest"
)

// bigMessage is a message of about size bytes (CRLF lines of 76 bytes).
func bigMessage(from, to string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: big\r\nMessage-ID: <%d@mem.test>\r\n\r\n", from, to, time.Now().UnixNano())
	line := strings.Repeat("x", 74) + "\r\n"
	for b.Len()+len(line) < size {
		b.WriteString(line)
	}
	return b.Bytes()
}

// TestMXMemoryEightConcurrent25MiB (issue 10 item 2): 8 messages of
// 25 MiB sent at once to the MX from one address cost the server a small
// multiple of their size, not ~160 MiB each (151 → 1,417 MiB before).
func TestMXMemoryEightConcurrent25MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 200 MiB")
	}
	bin := authsmtpBinary(t)
	dir := t.TempDir()
	for _, args := range [][]string{{"domain", "add", "mem.test"}, {"user", "add", "big@mem.test"}} {
		if code, _, errs := cli(t, dir, "Mem-test-k9W!q2x\n", args...); code != 0 {
			t.Fatalf("%v: %s", args, errs)
		}
	}
	dns := mailtest.StartDNS(t) // NXDOMAIN for everything: SPF none, no DMARC
	p := startServe(t, bin, dir, "--mx", "127.0.0.1:0", "--dns", dns.Addr)
	pid := p.cmd.Process.Pid
	before := int(vmHWM(t, p) >> 10) // MiB

	const n, size = 8, 25<<20 - 64<<10
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = bigMessage("someone@sender.test", "big@mem.test", size)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = sendMX(p.addr("mx"), "someone@sender.test", "big@mem.test", msgs[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d: %v\n%s", i, err, p.logs())
		}
	}
	peak := int(vmHWM(t, p) >> 10)
	if os.Getenv("MEMTEST_LOG") != "" {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		t.Log(string(st))
	}
	t.Logf("peak RSS (VmHWM): %d MiB before, %d MiB after %d concurrent messages of %d MiB", before, peak, n, size>>20)
	// Each message is spooled to a file and mapped while checked and
	// committed; the commit copies it into the database's pages (bbolt
	// also rewrites up to 4 neighbouring bodies of a leaf): allow 4x the
	// data plus the idle server (before: ~7x, 1,402 MiB).
	if limit := before + 4*n*(size>>20); peak > limit {
		t.Fatalf("peak RSS %d MiB (idle %d MiB): over %d MiB for %d x %d MiB", peak, before, limit, n, size>>20)
	}
}
