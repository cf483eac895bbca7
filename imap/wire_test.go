package imap

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// wire is a minimal IMAP client that reads answers as raw bytes: a
// benchmark through it measures the server, not a client's parser, and a
// test can compare answers byte for byte.
type wire struct {
	c   net.Conn
	br  *bufio.Reader
	tag int
	// wait bounds one command (default 5 minutes).
	wait time.Duration
}

func dialWire(tb testing.TB, ts *testServer) *wire {
	tb.Helper()
	c, err := tls.Dial("tcp", ts.tls, ts.clientTLS)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	w := &wire{c: c, br: bufio.NewReaderSize(c, 64<<10)}
	if g, err := w.br.ReadString('\n'); err != nil {
		tb.Fatalf("greeting %q: %v", g, err)
	}
	w.must(tb, fmt.Sprintf("LOGIN %s %s", testUser, testPassword), io.Discard)
	return w
}

// must sends one command and copies every answer, untagged lines and
// literals included, to out up to the tagged line, which must be OK.
func (w *wire) must(tb testing.TB, cmd string, out io.Writer) int64 {
	tb.Helper()
	n, err := w.run(cmd, out)
	if err != nil {
		tb.Fatalf("%s: %v", cmd, err)
	}
	return n
}

// run is must returning the error; it returns the bytes read.
func (w *wire) run(cmd string, out io.Writer) (int64, error) {
	w.tag++
	tag := "W" + strconv.Itoa(w.tag)
	wait := w.wait
	if wait == 0 {
		wait = 5 * time.Minute
	}
	w.c.SetDeadline(time.Now().Add(wait))
	if _, err := w.c.Write([]byte(tag + " " + cmd + "\r\n")); err != nil {
		return 0, err
	}
	var n int64
	for {
		l, err := w.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			out.Write(l)
			n += int64(len(l))
			continue
		}
		if err != nil {
			return n, err
		}
		out.Write(l)
		n += int64(len(l))
		if size, ok := literalSize(l); ok {
			m, err := io.CopyN(out, w.br, size)
			n += m
			if err != nil {
				return n, err
			}
			continue // the answer goes on after the literal
		}
		if bytes.HasPrefix(l, []byte(tag+" ")) {
			if !bytes.HasPrefix(l, []byte(tag+" OK")) {
				return n, fmt.Errorf("answer %q", l)
			}
			return n, nil
		}
	}
}

// literalSize reads the {n} (or ~{n}) a line ends with.
func literalSize(l []byte) (int64, bool) {
	l = bytes.TrimRight(l, "\r\n")
	if len(l) < 3 || l[len(l)-1] != '}' {
		return 0, false
	}
	i := bytes.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(bytes.TrimSuffix(l[i+1:len(l)-1], []byte("+"))), 10, 64)
	return n, err == nil
}

// reportCPU starts counting the process's CPU time (server and client
// both: the raw client's share is small); the returned func reports it
// per operation. On a shared machine it says more than the wall clock.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
