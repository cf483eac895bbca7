package main

import "context"

// Each service's start lives in its own serve_*.go file; these are the
// ones not built yet. A start registers its shutdown with srv.onStop.

func (srv *server) startSMTP(ctx context.Context) error    { return nil }
func (srv *server) startIMAP(ctx context.Context) error    { return nil }
func (srv *server) startWeb(ctx context.Context) error     { return nil }
func (srv *server) startQueue(ctx context.Context) error   { return nil }
func (srv *server) startMetrics(ctx context.Context) error { return nil }
