package webui

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// backupDownload streams a consistent copy of the whole database (the same
// as `authsmtp backup -`): it is taken in one read transaction while mail
// keeps flowing. Admin only; a GET that changes nothing.
func (s *Server) backupDownload(c *gin.Context) {
	name := "authsmtp-" + time.Now().UTC().Format("2006-01-02T150405Z") + ".db"
	c.Header("Content-Type", "application/octet-stream")
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	n, err := s.st.Backup(c.Writer)
	if err != nil {
		// The status is sent already: a cut download is the signal; the
		// file fails its check on restore.
		s.log.Error("web: backup download failed", "written", n, "err", err)
		return
	}
	s.log.Info("web: backup downloaded", "bytes", n, "ip", clientIP(c.Request))
}
