package webui

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// BenchmarkMessageList measures the webmail message list of a 10,000
// message INBOX (10 KiB each) over real HTTPS: time to first byte and
// total load time of page 1, the last page, and a header search.
//
//	go test -run XXX -bench MessageList -benchtime 50x ./webui/
func BenchmarkMessageList(b *testing.B) {
	e := newEnvTB(b)
	filler := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 170) // ~10 KiB
	start := time.Now()
	for i := 0; i < 10000; i++ {
		msg := fmt.Sprintf("From: Sender %d <s%d@remote.example>\r\nTo: %s\r\nSubject: message number %d\r\nDate: %s\r\n"+
			"Message-ID: <%d@remote.example>\r\n\r\n%s", i%97, i%97, testUser, i, time.Now().Format(time.RFC1123Z), i, filler)
		if _, err := e.st.Append(testUser, "INBOX", []byte(msg), nil, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("filled 10,000 messages in %v", time.Since(start).Round(time.Millisecond))
	c := e.benchClient(b)
	for _, tc := range []struct{ name, path string }{
		{"page1", "/mail/folder?name=INBOX"},
		{"lastpage", "/mail/folder?name=INBOX&page=200"},
		{"search", "/mail/folder?name=INBOX&q=number+4242"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var ttfb, total []time.Duration
			for b.Loop() {
				f, t := c.timedGet(b, tc.path)
				ttfb, total = append(ttfb, f), append(total, t)
			}
			b.ReportMetric(ms(pct(ttfb, 50)), "ttfb-p50-ms")
			b.ReportMetric(ms(pct(total, 50)), "total-p50-ms")
			b.ReportMetric(ms(pct(total, 99)), "total-p99-ms")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

type benchClient struct {
	c    *http.Client
	base string
}

func (e *env) benchClient(b *testing.B) *benchClient {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	bc := &benchClient{c: hc, base: e.ts.URL}
	// Sign in like a browser.
	resp, err := hc.Get(e.ts.URL + "/mail/login")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := csrfRe.FindStringSubmatch(string(body))[1]
	resp, err = hc.PostForm(e.ts.URL+"/mail/login", url.Values{"csrf": {tok}, "login": {testUser}, "password": {userPW}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		b.Fatalf("login: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	return bc
}

// timedGet returns the time to the first response byte and to the end.
func (c *benchClient) timedGet(b *testing.B, path string) (ttfb, total time.Duration) {
	var first time.Time
	req, _ := http.NewRequest("GET", c.base+path, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}))
	start := time.Now()
	resp, err := c.c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	end := time.Now()
	if resp.StatusCode != 200 || n < 1000 {
		b.Fatalf("%s: %d, %d bytes", path, resp.StatusCode, n)
	}
	return first.Sub(start), end.Sub(start)
}
