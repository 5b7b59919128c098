package sqlite

import (
	"context"
	"database/sql"
	"sync"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

// RiverVersion is the River release this file wraps. River marks the driver interfaces
// wrapped here "DO NOT IMPLEMENT": they change between releases without notice, so
// River is pinned to exactly this version in go.mod and TestRiverVersion trips on any
// other. To upgrade River: read the new riverdriver.Executor, ExecutorTx and Listener
// interfaces, mend the wrappers below (compile errors point at most of it), run
// TestNotifyInProcess and the delivery benchmarks in docs/performance.md, then change
// this constant. If River by then carries notifications in-process itself, delete this
// file instead.
const RiverVersion = "v0.51.2"

// driver is River's SQLite driver with its notifications (a job inserted, a queue
// paused, a leader resigned) carried inside the process instead of through a table
// that a listener polls every 50 ms. A job inserted in a store transaction then wakes
// the fetcher at once: the fetch waits for the one write connection, so it runs just
// after the commit and finds the job. Other processes on the same file fall back to
// the queue's poll.
type driver struct {
	*riversqlite.Driver
	bus *bus
}

var _ riverdriver.Driver[*sql.Tx] = (*driver)(nil)

func newDriver(write *sql.DB) *driver {
	return &driver{Driver: riversqlite.New(write), bus: &bus{listeners: map[*listener]bool{}}}
}

func (d *driver) GetExecutor() riverdriver.Executor {
	return executor{Executor: d.Driver.GetExecutor(), bus: d.bus}
}

func (d *driver) UnwrapExecutor(tx *sql.Tx) riverdriver.ExecutorTx {
	return executorTx{ExecutorTx: d.Driver.UnwrapExecutor(tx), bus: d.bus}
}

func (d *driver) GetListener(*riverdriver.GetListenenerParams) riverdriver.Listener {
	return &listener{bus: d.bus, topics: map[string]bool{}, ch: make(chan riverdriver.Notification, 1024)}
}

// executor and executorTx send notifications on the bus; the rest is riversqlite's.
type executor struct {
	riverdriver.Executor
	bus *bus
}

func (e executor) Begin(ctx context.Context) (riverdriver.ExecutorTx, error) {
	return e.bus.wrap(e.Executor.Begin(ctx))
}

func (e executor) NotifyMany(_ context.Context, p *riverdriver.NotifyManyParams) error {
	e.bus.publish(p)
	return nil
}

type executorTx struct {
	riverdriver.ExecutorTx
	bus *bus
}

func (e executorTx) Begin(ctx context.Context) (riverdriver.ExecutorTx, error) {
	return e.bus.wrap(e.ExecutorTx.Begin(ctx))
}

// NotifyMany sends at once, before the commit: a notification is only a hint to fetch,
// and the fetch cannot run before the commit releases the write connection.
func (e executorTx) NotifyMany(_ context.Context, p *riverdriver.NotifyManyParams) error {
	e.bus.publish(p)
	return nil
}

// bus hands notifications to the listeners of their topic.
type bus struct {
	mu        sync.Mutex
	listeners map[*listener]bool
}

// wrap makes a transaction River began send its notifications on the bus.
func (b *bus) wrap(tx riverdriver.ExecutorTx, err error) (riverdriver.ExecutorTx, error) {
	if err != nil {
		return nil, err
	}
	return executorTx{ExecutorTx: tx, bus: b}, nil
}

func (b *bus) publish(p *riverdriver.NotifyManyParams) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for l := range b.listeners {
		l.deliver(p)
	}
}

// listener is a riverdriver.Listener on the bus. A listener too far behind misses
// notifications; the queue's poll finds what they were about.
type listener struct {
	bus    *bus
	mu     sync.Mutex
	topics map[string]bool
	ch     chan riverdriver.Notification
}

func (l *listener) deliver(p *riverdriver.NotifyManyParams) {
	l.mu.Lock()
	listening := l.topics[p.Topic]
	l.mu.Unlock()
	if !listening {
		return
	}
	for _, payload := range p.Payload {
		select {
		case l.ch <- riverdriver.Notification{Topic: p.Topic, Payload: payload}:
		default:
		}
	}
}

func (l *listener) Connect(context.Context) error {
	l.bus.mu.Lock()
	defer l.bus.mu.Unlock()
	l.bus.listeners[l] = true
	return nil
}

func (l *listener) Close(context.Context) error {
	l.bus.mu.Lock()
	defer l.bus.mu.Unlock()
	delete(l.bus.listeners, l)
	return nil
}

func (l *listener) Listen(_ context.Context, topic string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.topics[topic] = true
	return nil
}

func (l *listener) Unlisten(_ context.Context, topic string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.topics, topic)
	return nil
}

func (l *listener) Ping(context.Context) error { return nil }
func (l *listener) Schema() string             { return "" }
func (l *listener) SetAfterConnectExec(string) {}

func (l *listener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	select {
	case n := <-l.ch:
		return &n, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
