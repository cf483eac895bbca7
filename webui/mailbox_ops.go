package webui

import "github.com/gin-gonic/gin"

// Mailbox changes from webmail (flags, move, delete). They use the store's
// mailbox operations, shared with IMAP, so IMAP sessions see them at once.

func (s *Server) mailboxOpRoutes(g *gin.RouterGroup) {}

func (s *Server) markSeen(addr, mailbox string, uid uint32) {}
