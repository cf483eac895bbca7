package webui

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/authsmtp/authsmtp/store"
)

// Mailbox changes from webmail (flags, move, delete). They use the store's
// mailbox operations, shared with IMAP, so IMAP sessions see them at once.
// Each takes folder and uid from the POST form (never from the URL).

func (s *Server) mailboxOpRoutes(g *gin.RouterGroup) {
	g.POST("/msg/flags", s.msgFlags)
	g.POST("/msg/move", s.msgMove)
	g.POST("/msg/delete", s.msgDelete)
}

func (s *Server) markSeen(addr, mailbox string, uid uint32) {
	if _, err := s.st.SetFlags(addr, mailbox, []uint32{uid}, store.FlagsAdd, []string{`\Seen`}); err != nil {
		s.log.Warn("web: marking read", "err", err)
	}
}

// formMsg reads folder+uid of a POST and checks the message exists.
func (s *Server) formMsg(c *gin.Context) (string, uint32, bool) {
	sess := sessionOf(c)
	folder := c.PostForm("folder")
	uid, err := strconv.ParseUint(c.PostForm("uid"), 10, 32)
	if err == nil && uid > 0 {
		if _, _, err := s.st.GetMessage(sess.Address, folder, uint32(uid)); err == nil {
			return folder, uint32(uid), true
		}
	}
	s.errorPage(c, http.StatusNotFound, "That message is not there any more.")
	return "", 0, false
}

func msgURL(folder string, uid uint32) string {
	return "/mail/msg?folder=" + urlQuery(folder) + "&uid=" + strconv.FormatUint(uint64(uid), 10)
}

func folderURL(folder string) string { return "/mail/folder?name=" + urlQuery(folder) }

func (s *Server) msgFlags(c *gin.Context) {
	sess := sessionOf(c)
	folder, uid, ok := s.formMsg(c)
	if !ok {
		return
	}
	var op store.FlagOp
	var flag string
	switch c.PostForm("action") {
	case "read":
		op, flag = store.FlagsAdd, `\Seen`
	case "unread":
		op, flag = store.FlagsRemove, `\Seen`
	case "flag":
		op, flag = store.FlagsAdd, `\Flagged`
	case "unflag":
		op, flag = store.FlagsRemove, `\Flagged`
	default:
		s.errorPage(c, http.StatusBadRequest, "Unknown action.")
		return
	}
	if _, err := s.st.SetFlags(sess.Address, folder, []uint32{uid}, op, []string{flag}); err != nil {
		s.flash(c, "Could not change the message: "+errText(err), true)
	}
	if c.PostForm("action") == "unread" {
		back(c, folderURL(folder)) // staying on the message would mark it read again
		return
	}
	back(c, msgURL(folder, uid))
}

func (s *Server) msgMove(c *gin.Context) {
	sess := sessionOf(c)
	folder, uid, ok := s.formMsg(c)
	if !ok {
		return
	}
	dest := c.PostForm("dest")
	if _, ok := findMailbox(s.mailboxes(sess.Address), dest); !ok || dest == folder {
		s.flash(c, "Choose another existing folder.", true)
		back(c, msgURL(folder, uid))
		return
	}
	if _, err := s.st.Move(sess.Address, folder, []uint32{uid}, dest); err != nil {
		s.flash(c, "Could not move the message: "+errText(err), true)
		back(c, msgURL(folder, uid))
		return
	}
	s.flash(c, "Moved to "+dest+".", false)
	back(c, folderURL(folder))
}

// msgDelete moves a message to Trash; in Trash it deletes it for good.
func (s *Server) msgDelete(c *gin.Context) {
	sess := sessionOf(c)
	folder, uid, ok := s.formMsg(c)
	if !ok {
		return
	}
	trash := "Trash"
	for _, mb := range s.mailboxes(sess.Address) {
		if mb.SpecialUse == `\Trash` {
			trash = mb.Name
		}
	}
	var err error
	msg := "Moved to " + trash + "."
	if folder == trash {
		_, err = s.st.Expunge(sess.Address, folder, []uint32{uid})
		msg = "Deleted for good."
	} else if _, err = s.st.Move(sess.Address, folder, []uint32{uid}, trash); err != nil {
		if _, cerr := s.st.CreateMailbox(sess.Address, trash, `\Trash`); cerr == nil {
			_, err = s.st.Move(sess.Address, folder, []uint32{uid}, trash)
		}
	}
	if err != nil {
		s.flash(c, "Could not delete the message: "+errText(err), true)
		back(c, msgURL(folder, uid))
		return
	}
	s.flash(c, msg, false)
	back(c, folderURL(folder))
}
