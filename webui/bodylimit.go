package webui

import (
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// A request from a client without a session (a login form, autoconfig, a
// stranger) gets a short time and a small size to send its body, so a
// slow or endless body cannot hold a connection (slowloris). A request
// of a signed-in session gets the server's whole read time and size
// back: it may upload attachments. The header has its own deadline in
// the http.Server (ReadHeaderTimeout).
const (
	anonBodyTimeout = 10 * time.Second
	anonBodyMax     = 64 << 10
	// sessionBodyTimeout is the time a signed-in session's request body
	// gets: the http.Server's ReadTimeout.
	sessionBodyTimeout = 5 * time.Minute
	ctxFullBody        = "fullBody"
)

// limitAnonBody puts the anonymous limits on a request's body. Once the
// body is read the deadline is lifted, so a slow handler (the login
// throttle's delay) is not cut short by net/http's background read.
func (s *Server) limitAnonBody(c *gin.Context) {
	r := c.Request
	if r.Body == nil || r.Body == http.NoBody {
		c.Next()
		return
	}
	rc := http.NewResponseController(c.Writer)
	rc.SetReadDeadline(time.Now().Add(anonBodyTimeout)) // not every writer can; then ReadTimeout holds
	full := r.Body
	c.Set(ctxFullBody, full)
	r.Body = &eofHook{ReadCloser: http.MaxBytesReader(c.Writer, full, anonBodyMax),
		atEOF: func() { rc.SetReadDeadline(time.Time{}) }}
	c.Next()
}

// allowSessionBody gives a signed-in session's request its full body
// back, with the server's read time.
func allowSessionBody(c *gin.Context) {
	full, ok := c.Get(ctxFullBody)
	if !ok {
		return
	}
	c.Request.Body = full.(io.ReadCloser)
	http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(sessionBodyTimeout))
}

// eofHook calls atEOF once the body has been read to its end.
type eofHook struct {
	io.ReadCloser
	atEOF func()
}

func (b *eofHook) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && b.atEOF != nil {
		b.atEOF()
		b.atEOF = nil
	}
	return n, err
}
