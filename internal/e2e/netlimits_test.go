package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/sys/unix"

	"github.com/authsmtp/authsmtp/internal/testutil"
)

// The tests here are SECURITY.md's "running out of file descriptors is
// survivable", run against the real binary.

const netUser, netPW = "ida@fd.test", "ida-password-for-fd-tests"

func netSetup(t *testing.T, dir string) {
	t.Helper()
	for _, c := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"domain", "add", "fd.test"}},
		{netPW + "\n", []string{"user", "add", netUser}},
	} {
		if code, _, errOut := cli(t, dir, c.stdin, c.args...); code != 0 {
			t.Fatalf("%v: %s", c.args, errOut)
		}
	}
}

// keepAlive opens an HTTPS connection from src and asks /healthz on it,
// leaving the connection open. It returns nil when the server refused or
// did not answer within a few seconds.
func keepAlive(src, addr string) net.Conn {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 3 * time.Second}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		return nil
	}
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		c.Close()
		return nil
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.SetDeadline(time.Time{})
	return c
}

// greeting reads an IMAP greeting on a plaintext connection.
func greeting(c net.Conn, within time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(within))
	return bufio.NewReader(c).ReadString('\n')
}

// binCLI runs the binary as an admin would, killed after limit.
func binCLI(t *testing.T, limit time.Duration, dir string, args ...string) (out string, code int, took time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, authsmtpBinary(t), append(args, "--data", dir)...)
	cmd.Env = cleanEnv()
	start := time.Now()
	b, err := cmd.CombinedOutput()
	took = time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("authsmtp %s hung for %s:\n%s", strings.Join(args, " "), limit, b)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(b), code, took
}

// TestDescriptorExhaustionIsSurvivable runs the server with 256 file
// descriptors. 240 keep-alive HTTPS connections from one address: the
// per-IP cap keeps all but 20 out. Then connections from many addresses
// use up every descriptor while IMAP (143, 993) and the control socket
// have clients waiting; once those connections go, every listener
// serves again: nothing stopped for good.
func TestDescriptorExhaustionIsSurvivable(t *testing.T) {
	bin := authsmtpBinary(t)
	dir := t.TempDir()
	netSetup(t, dir)
	p := startServe(t, bin, dir, "--imap", "127.0.0.1:0", "--imaps", "127.0.0.1:0", "--https", "127.0.0.1:0")
	lim := unix.Rlimit{Cur: 256, Max: 256}
	if err := unix.Prlimit(p.cmd.Process.Pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	https := p.addr("https")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()

	// One address: the cap refuses the excess, so nothing runs out.
	refused := 0
	for range 240 {
		if c := keepAlive("127.0.0.1", https); c != nil {
			held = append(held, c)
		} else {
			refused++
		}
	}
	t.Logf("240 keep-alive connections from one address: %d held, %d refused", len(held), refused)
	if len(held) != 20 || refused != 220 {
		t.Fatalf("HTTPS per-IP cap: %d held, %d refused; want 20 and 220", len(held), refused)
	}
	if strings.Contains(p.logs(), "too many open files") {
		t.Fatalf("one address ran the server out of descriptors:\n%s", p.logs())
	}
	c143, err := net.Dial("tcp", p.addr("imap"))
	if err != nil {
		t.Fatal(err)
	}
	if g, err := greeting(c143, 5*time.Second); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("IMAP while one address holds its 20: %q %v", g, err)
	}
	c143.Close()

	// Many addresses: the process runs out of descriptors.
	out := func() bool { return strings.Contains(p.logs(), "too many open files") }
	for i := 2; i < 60 && !out(); i++ {
		for j := 0; j < 20 && !out(); j++ {
			if c := keepAlive(fmt.Sprintf("127.0.0.%d", i), https); c != nil {
				held = append(held, c)
			}
		}
	}
	if !out() {
		t.Fatalf("the server never ran out of descriptors with %d connections:\n%s", len(held), p.logs())
	}
	t.Logf("out of descriptors after %d held HTTPS connections", len(held))
	// Clients wait on IMAP, IMAPS and the control socket while there are
	// no descriptors: each accept loop meets "too many open files".
	waiting143, err := net.Dial("tcp", p.addr("imap"))
	if err != nil {
		t.Fatal(err)
	}
	defer waiting143.Close()
	waiting993, err := net.Dial("tcp", p.addr("imaps"))
	if err != nil {
		t.Fatal(err)
	}
	defer waiting993.Close()
	waitingCtl, err := net.Dial("unix", filepath.Join(dir, "authsmtp.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer waitingCtl.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !(strings.Contains(p.logs(), "listener=imap ") && strings.Contains(p.logs(), "listener=imaps ") &&
		strings.Contains(p.logs(), "listener=control ")) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for _, l := range []string{"imap", "imaps", "control"} {
		if !strings.Contains(p.logs(), "listener="+l+" ") {
			t.Fatalf("the %s listener never met the descriptor limit:\n%s", l, p.logs())
		}
	}

	for _, c := range held {
		c.Close()
	}
	held = nil

	// Every listener serves again: the client that waited through it too.
	if g, err := greeting(waiting143, 15*time.Second); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("the IMAP client that waited got %q, %v:\n%s", g, err, p.logs())
	}
	for _, addr := range []string{p.addr("imap")} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if g, err := greeting(c, 10*time.Second); !strings.HasPrefix(g, "* OK") {
			t.Fatalf("IMAP on 143 after the flood: %q, %v:\n%s", g, err, p.logs())
		}
		c.Close()
	}
	ic, err := imapclient.DialTLS(p.addr("imaps"), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatalf("IMAPS after the flood: %v\n%s", err, p.logs())
	}
	if err := ic.Login(netUser, netPW).Wait(); err != nil {
		t.Fatalf("IMAPS login after the flood: %v", err)
	}
	ic.Close()
	list, code, _ := binCLI(t, 30*time.Second, dir, "domain", "list")
	if code != 0 || !strings.Contains(list, "fd.test") {
		t.Fatalf("domain list through the control socket after the flood: exit %d\n%s", code, list)
	}
	resp, body := httpsGet(t, https, "/healthz")
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz after the flood: %d %s", resp.StatusCode, body)
	}
}

func httpsGet(t *testing.T, addr, path string) (*http.Response, string) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// stopListener makes the server's listening socket on port fail for good
// (shutdown(2) through a copy of its descriptor taken with pidfd_getfd), as
// a kernel or network change could: its accept returns EINVAL.
func stopListener(t *testing.T, pid, port int) {
	t.Helper()
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err == nil {
		defer unix.Close(pidfd)
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, e := range fds {
		if err != nil {
			break
		}
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		if !strings.HasPrefix(link, "socket:") {
			continue
		}
		n, _ := strconv.Atoi(e.Name())
		var fd int
		if fd, err = unix.PidfdGetfd(pidfd, n, 0); err != nil {
			break
		}
		sa, _ := unix.Getsockname(fd)
		listening, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
		if in4, ok := sa.(*unix.SockaddrInet4); ok && in4.Port == port && listening == 1 {
			err = unix.Shutdown(fd, unix.SHUT_RD)
			unix.Close(fd)
			if err == nil {
				return
			}
			break
		}
		unix.Close(fd)
	}
	if errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EPERM) {
		if testutil.InCI() {
			t.Fatalf("pidfd_getfd: %v", err)
		}
		t.Skipf("cannot reach the server's socket (pidfd_getfd: %v)", err)
	}
	t.Fatalf("no listening socket on port %d found (%v)", port, err)
}

// TestStoppedListenerTurnsHealthzRed: a listener whose socket fails for
// good makes /healthz answer 503 and name it.
func TestStoppedListenerTurnsHealthzRed(t *testing.T) {
	bin := authsmtpBinary(t)
	dir := t.TempDir()
	p := startServe(t, bin, dir, "--imaps", "127.0.0.1:0", "--https", "127.0.0.1:0")
	https := p.addr("https")
	if resp, body := httpsGet(t, https, "/healthz"); resp.StatusCode != 200 {
		t.Fatalf("/healthz before: %d %s", resp.StatusCode, body)
	}
	_, portStr, _ := net.SplitHostPort(p.addr("imaps"))
	port, _ := strconv.Atoi(portStr)
	stopListener(t, p.cmd.Process.Pid, port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := httpsGet(t, https, "/healthz")
		if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(body, "imaps stopped") {
			t.Logf("/healthz: %d %s", resp.StatusCode, strings.TrimSpace(body))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz with the IMAPS listener stopped: %d %q\n%s", resp.StatusCode, body, p.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCLIGivesUpOnASilentServer: a control socket that accepts and never
// answers makes the CLI fail with a clear message after --control-timeout,
// not hang. A long command on a live server is kept alive by heartbeats.
func TestCLIGivesUpOnASilentServer(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, "authsmtp.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	out, code, took := binCLI(t, 30*time.Second, dir, "domain", "list", "--control-timeout", "2s")
	t.Logf("silent server: exit %d after %s: %s", code, took.Round(time.Millisecond), strings.TrimSpace(out))
	if code == 0 || !strings.Contains(out, "did not answer") || took > 10*time.Second {
		t.Fatalf("CLI against a silent socket: exit %d after %s:\n%s", code, took, out)
	}

	// A real server: a command runs with a timeout shorter than it takes.
	dir2 := t.TempDir()
	netSetup(t, dir2)
	startServe(t, authsmtpBinary(t), dir2)
	out, code, took = binCLI(t, 60*time.Second, dir2, "backup", filepath.Join(t.TempDir(), "b.db"), "--control-timeout", "150ms")
	t.Logf("backup with --control-timeout 150ms: exit %d after %s", code, took.Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("backup through the socket with a short idle timeout: exit %d\n%s", code, out)
	}
}

// TestSlowHTTPRequestsAreCut: a client trickling its request header, or
// the body of a request without a session, is cut off within seconds.
func TestSlowHTTPRequestsAreCut(t *testing.T) {
	bin := authsmtpBinary(t)
	p := startServe(t, bin, t.TempDir(), "--https", "127.0.0.1:0")
	https := p.addr("https")
	for name, c := range map[string]struct {
		head  string
		drip  string
		limit time.Duration
	}{
		"header": {"GET /healthz HTTP/1.1\r\nHost: localhost\r\n", "X-Slow: 1\r\n", 16 * time.Second},
		"body": {"POST /mail/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
			"Content-Length: 100000\r\n\r\n", "a", 16 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conn, err := tls.Dial("tcp", https, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			io.WriteString(conn, c.head)
			cut := make(chan time.Duration, 1)
			go func() {
				io.Copy(io.Discard, conn) // returns when the server closes
				cut <- time.Since(start)
			}()
			tick := time.NewTicker(500 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case d := <-cut:
					t.Logf("slow %s cut after %s", name, d.Round(time.Millisecond))
					if d < 5*time.Second {
						t.Fatalf("cut after only %s", d)
					}
					return
				case <-tick.C:
					if time.Since(start) > c.limit {
						t.Fatalf("a slow %s still open after %s", name, c.limit)
					}
					io.WriteString(conn, c.drip)
				}
			}
		})
	}
}
