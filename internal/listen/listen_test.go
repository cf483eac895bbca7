package listen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func tcpListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// acceptAll accepts in the background and sends each connection on.
func acceptAll(l net.Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 100)
	go func() {
		defer close(ch)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	return ch
}

func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPerIPCapRefusesExcessAndFreesSlotsAtClose(t *testing.T) {
	limit := NewPerIP(3)
	refused := make(chan string, 10)
	l := New(tcpListener(t), Options{Name: "test", Limit: limit, Logger: quiet(),
		Refusal: []byte("421 too many\r\n"), OnRefuse: func(ip string) { refused <- ip }})
	defer l.Close()
	accepted := acceptAll(l)
	addr := l.Addr().String()

	var held []net.Conn
	for range 3 {
		dialFrom(t, "127.0.0.1", addr)
		held = append(held, <-accepted)
	}
	if n := limit.Count("127.0.0.1"); n != 3 {
		t.Fatalf("count = %d, want 3", n)
	}
	over := dialFrom(t, "127.0.0.1", addr)
	over.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(over).ReadString('\n')
	if line != "421 too many\r\n" {
		t.Fatalf("refused connection read %q, %v; want the refusal text", line, err)
	}
	if ip := <-refused; ip != "127.0.0.1" {
		t.Fatalf("OnRefuse got %q", ip)
	}
	// Another address has its own slots.
	dialFrom(t, "127.0.0.2", addr)
	other := <-accepted
	if c := Find(other); c == nil || c.IP != "127.0.0.2" {
		t.Fatalf("Find = %+v, want the 127.0.0.2 connection", c)
	}

	held[0].Close()
	held[0].Close() // a second Close frees nothing more
	if n := limit.Count("127.0.0.1"); n != 2 {
		t.Fatalf("after Close count = %d, want 2", n)
	}
	dialFrom(t, "127.0.0.1", addr)
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("a freed slot was not given to the next connection")
	}
}

func TestPerIPIsSharedAndIPv6CountsPer64(t *testing.T) {
	limit := NewPerIP(2)
	for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if !limit.acquire(ip) {
			t.Fatalf("acquire %s refused", ip)
		}
	}
	if limit.acquire("2001:db8:1:2:abcd::1") {
		t.Fatal("a third address in the same /64 was allowed")
	}
	if !limit.acquire("2001:db8:1:3::1") {
		t.Fatal("another /64 was refused")
	}
	if !limit.acquire("::ffff:192.0.2.1") || !limit.acquire("192.0.2.1") || limit.acquire("192.0.2.1") {
		t.Fatal("an IPv4-mapped address should count as its IPv4 address")
	}
	limit.release("2001:db8:1:2::1")
	if !limit.acquire("2001:db8:1:2:abcd::1") {
		t.Fatal("release did not free the /64's slot")
	}
	for ip, want := range map[string]string{
		"192.0.2.7":         "192.0.2.7",
		"2001:db8::1":       "2001:db8::/64",
		"fe80::1%eth0":      "fe80::/64",
		"not an address":    "not an address",
		"::ffff:198.51.0.1": "198.51.0.1",
	} {
		if got := ClientKey(ip); got != want {
			t.Errorf("ClientKey(%q) = %q, want %q", ip, got, want)
		}
	}
	var none *PerIP
	if !none.acquire("192.0.2.1") || none.Count("192.0.2.1") != 0 {
		t.Fatal("a nil PerIP must not cap")
	}
}

// flakyListener fails Accept with the given errors before accepting from
// the real listener, as a process out of descriptors does.
type flakyListener struct {
	net.Listener
	errs chan error
}

func (f *flakyListener) Accept() (net.Conn, error) {
	select {
	case err := <-f.errs:
		return nil, err
	default:
		return f.Listener.Accept()
	}
}

func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

func TestAcceptRetriesTemporaryErrorsWithBackoff(t *testing.T) {
	ln := tcpListener(t)
	f := &flakyListener{Listener: ln, errs: make(chan error, 20)}
	for range 6 {
		f.errs <- acceptErr(syscall.EMFILE)
	}
	f.errs <- acceptErr(syscall.ENFILE)
	f.errs <- acceptErr(syscall.ECONNABORTED)
	h := &Health{}
	l := New(f, Options{Name: "imap", Health: h, Logger: quiet()})
	defer l.Close()
	dialFrom(t, "127.0.0.1", ln.Addr().String())
	start := time.Now()
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept returned %v; temporary errors must be retried", err)
	}
	c.Close()
	// 5+10+20+40+80+160+320+640 ms of backoff.
	if took := time.Since(start); took < 1200*time.Millisecond || took > 5*time.Second {
		t.Errorf("eight retries took %s, want the doubling backoff (about 1.3s)", took)
	}
	if err := h.Err(); err != nil {
		t.Errorf("health after recovery: %v", err)
	}
}

func TestAcceptStopsOnPermanentErrorAndHealthSaysWhich(t *testing.T) {
	ln := tcpListener(t)
	f := &flakyListener{Listener: ln, errs: make(chan error, 1)}
	f.errs <- acceptErr(syscall.EINVAL)
	h := &Health{}
	New(tcpListener(t), Options{Name: "imaps", Health: h, Logger: quiet()})
	l := New(f, Options{Name: "imap", Health: h, Logger: quiet()})
	if _, err := l.Accept(); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Accept = %v, want EINVAL", err)
	}
	err := h.Err()
	if err == nil || !strings.Contains(err.Error(), "imap stopped") || strings.Contains(err.Error(), "imaps") {
		t.Fatalf("health = %v, want only imap named as stopped", err)
	}
}

func TestCloseIsNotAStopAndEndsABackoff(t *testing.T) {
	ln := tcpListener(t)
	f := &flakyListener{Listener: ln, errs: make(chan error, 100)}
	for range 100 {
		f.errs <- acceptErr(syscall.EMFILE)
	}
	h := &Health{}
	l := New(f, Options{Name: "smtp", Health: h, Logger: quiet()})
	done := make(chan error)
	go func() { _, err := l.Accept(); done <- err }()
	time.Sleep(100 * time.Millisecond)
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end Accept's backoff")
	}
	if err := h.Err(); err != nil {
		t.Fatalf("a closed listener is reported: %v", err)
	}
}

func TestHealthReportsLongFailures(t *testing.T) {
	now := time.Unix(1000, 0)
	h := &Health{now: func() time.Time { return now }}
	h.failing("https", acceptErr(syscall.EMFILE))
	if err := h.Err(); err != nil {
		t.Fatalf("a fresh failure is reported: %v", err)
	}
	now = now.Add(FailingFor + time.Second)
	h.failing("https", acceptErr(syscall.EMFILE))
	if err := h.Err(); err == nil || !strings.Contains(err.Error(), "https failing to accept for 31s") {
		t.Fatalf("health = %v, want https failing for 31s", err)
	}
	h.serving("https")
	if err := h.Err(); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	var none *Health
	none.stopped("x", io.EOF)
	if none.Err() != nil {
		t.Fatal("nil Health reported")
	}
}

func TestIDsAreUniqueAcrossListeners(t *testing.T) {
	ids := new(IDs)
	a := New(tcpListener(t), Options{IDs: ids, Logger: quiet()})
	b := New(tcpListener(t), Options{IDs: ids, Logger: quiet()})
	seen := map[string]bool{}
	for i := range 6 {
		l := a
		if i%2 == 1 {
			l = b
		}
		dialFrom(t, "127.0.0.1", l.Addr().String())
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		id := Find(c).ID
		if seen[id] {
			t.Fatalf("cid %s given twice", id)
		}
		seen[id] = true
		c.Close()
	}
	if fmt.Sprint(len(seen)) != "6" {
		t.Fatalf("ids: %v", seen)
	}
}
