package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/authsmtp/authsmtp/internal/testutil/webtest"
	"github.com/authsmtp/authsmtp/store"
)

// TestWebSessionsMemory is a measurement, not a check: the resident memory
// of a real "authsmtp serve" process while 20 headless-chromium sessions
// (separate browser contexts, each a different user) have the webmail
// list open with its live-update stream. It runs only when asked:
//
//	AUTHSMTP_BENCH_WEB=1 go test -run TestWebSessionsMemory -v .
func TestWebSessionsMemory(t *testing.T) {
	if os.Getenv("AUTHSMTP_BENCH_WEB") == "" {
		t.Skip("measurement; set AUTHSMTP_BENCH_WEB=1 to run it")
	}
	const users, perUser = 20, 200
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	st.AddDomain("bench.test")
	st.SetDomainSwitch("bench.test", "webmail", true)
	filler := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 170)
	for u := 0; u < users; u++ {
		addr := fmt.Sprintf("user%d@bench.test", u)
		if _, err := st.AddUser(addr, "Bench-Pass-12345"); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < perUser; i++ {
			msg := fmt.Sprintf("From: s%d@remote.test\r\nSubject: message %d\r\n\r\n%s", i%7, i, filler)
			if _, err := st.Append(addr, "INBOX", []byte(msg), nil, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	st.Close()
	bin := authsmtpBinary(t)
	p := startServe(t, bin, dir, "--https", "127.0.0.1:0", "--submission", "", "--submissions", "", "--metrics", "127.0.0.1:0")
	pid := p.cmd.Process.Pid
	base := "https://" + p.addr("https")
	idle := rss(t, pid)
	t.Logf("idle: RssAnon %.1f MiB, RssFile %.1f MiB", float64(status(t, pid, "RssAnon"))/1024, float64(status(t, pid, "RssFile"))/1024)

	ctx := webtest.Browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/healthz")); err != nil {
		t.Fatal(err)
	}
	var tabs []context.Context
	start := time.Now()
	for u := 0; u < users; u++ {
		tab, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		webtest.SignIn(t, tab, base, "mail", fmt.Sprintf("user%d@bench.test", u), "Bench-Pass-12345", "#messages")
		tabs = append(tabs, tab)
	}
	opened := time.Since(start)
	// Sample for a while with the 20 streams open: right after the logins
	// RSS still holds freed argon2 memory (19 MiB per password check) that
	// the Go runtime gives back to the system over the next seconds.
	var samples []int64
	for i := 0; i < 30; i++ {
		samples = append(samples, rss(t, pid))
		time.Sleep(500 * time.Millisecond)
	}
	mib := func(kb int64) float64 { return float64(kb) / 1024 }
	t.Logf("authsmtp serve RSS: idle %.1f MiB; %d browser sessions open: %.1f MiB right after the logins, %.1f MiB 15 s later (VmHWM %.1f MiB); sessions opened in %v",
		mib(idle), len(tabs), mib(samples[0]), mib(samples[len(samples)-1]), mib(status(t, pid, "VmHWM")), opened.Round(time.Millisecond))
	t.Logf("with the sessions open: RssAnon %.1f MiB, RssFile %.1f MiB; Go heap in use %.1f MiB, %v goroutines, %v web sessions streaming",
		mib(status(t, pid, "RssAnon")), mib(status(t, pid, "RssFile")), scrape(t, p.addr("metrics"), "go_memstats_heap_inuse_bytes")/(1<<20),
		scrape(t, p.addr("metrics"), "go_goroutines"), scrape(t, p.addr("metrics"), `authsmtp_sessions{proto="web"}`))
	// One more page load per session, as a browser would on a click.
	for _, tab := range tabs {
		webtest.Do(t, tab, "reload", chromedp.Navigate(base+"/mail/folder?name=INBOX&page=2"), chromedp.WaitVisible(chromedp.CSS("#messages")))
	}
	t.Logf("after one more page view in each session: %.1f MiB (RssAnon %.1f MiB: the process's own memory; RssFile %.1f MiB: pages of the mapped database file)",
		mib(rss(t, pid)), mib(status(t, pid, "RssAnon")), mib(status(t, pid, "RssFile")))
}

func rss(t *testing.T, pid int) int64 { return status(t, pid, "VmRSS") }

// status reads a kB field of /proc/PID/status.
func status(t *testing.T, pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return n
		}
	}
	return 0
}

// scrape reads one sample from the server's /metrics.
func scrape(t *testing.T, addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name+" ") {
			v, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(l, name)), 64)
			return v
		}
	}
	return -1
}
