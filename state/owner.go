package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is what Owner.Add returns once the owner's teardown has begun:
// the caller must not create the resource.
var ErrClosed = errors.New("instance is being torn down")

// Owner is the one owner of an instance's resources, in the way of
// firecracker-go-sdk's Machine and its cleanup list. A backend makes one per
// instance and, for each resource, first calls Add (which records it and
// saves the record, so that `vcbench cleanup` finds it if vcbench is
// killed), then creates it only if Add returned nil. Close undoes the
// steps in reverse order, once, and joins their errors; every error path of
// a Start just calls it.
type Owner struct {
	mu     sync.Mutex
	rec    *Record
	steps  []step
	closed atomic.Bool
	once   sync.Once
	err    error
}

// step is one Add: resources recorded together and an optional graceful
// undo that runs in this process before their recorded undo.
type step struct {
	res  []Resource
	undo func(context.Context) error
}

// NewOwner starts the owner of one instance's resources, with an empty
// record in dir (nothing is written until the first Add).
func NewOwner(dir, runID, instance, runtime string) *Owner {
	return &Owner{rec: New(dir, runID, instance, runtime)}
}

// Add records res, saves the record and returns the save error: the caller
// creates the resources only if it is nil (a process, whose start time is
// known only once it runs, is recorded right after with AddProc). Close
// undoes them in reverse order with the record's undo (Resource.Undo, what
// `vcbench cleanup` runs), after undo when undo is not nil: a graceful first
// try that only this process can make (stop through QMP, `crun delete`,
// give back an address). The recorded undo always runs after it, so every
// Stop exercises the same code as a cleanup. The step is kept even when the
// save fails, so that Close still undoes what the caller made.
func (o *Owner) Add(undo func(context.Context) error, res ...Resource) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed.Load() {
		return ErrClosed
	}
	o.steps = append(o.steps, step{res: res, undo: undo})
	if len(res) == 0 {
		return nil
	}
	o.rec.setResources(append(o.rec.ordered(), res...))
	return o.save()
}

// OnClose adds a step with nothing to record, only undo: closing a log
// file, say. It runs in its place in the reverse order.
func (o *Owner) OnClose(undo func(context.Context) error) {
	o.Add(undo) // records nothing: no save, no error
}

// AddProc records a process that has just been started, with stop as its
// graceful undo (nil: the record's SIGTERM, grace, SIGKILL). If the process
// cannot be identified (it has already exited), stop is still registered
// and the error returned.
func (o *Owner) AddProc(pid int, stop func(context.Context) error) error {
	p, err := ProcOf(pid)
	if err != nil {
		if aerr := o.Add(stop); aerr != nil {
			return aerr
		}
		return fmt.Errorf("identify pid %d: %w", pid, err)
	}
	return o.Add(stop, Process(p))
}

// Forget drops the latest step recording res, when the caller found it
// was not theirs to create after all (another vcbench holds that link
// name), and saves the record.
func (o *Owner) Forget(res Resource) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.steps) - 1; i >= 0; i-- {
		if len(o.steps[i].res) == 1 && o.steps[i].res[0] == res {
			o.steps = append(o.steps[:i], o.steps[i+1:]...)
			break
		}
	}
	all := o.rec.ordered()
	for i := len(all) - 1; i >= 0; i-- {
		if all[i] == res {
			o.rec.setResources(append(all[:i:i], all[i+1:]...))
			return o.save()
		}
	}
	return nil
}

func (o *Owner) save() error {
	if err := o.rec.Save(); err != nil {
		return fmt.Errorf("save state record of %s: %w", o.rec.Instance, err)
	}
	return nil
}

// Record returns a copy of the record as it stands.
func (o *Owner) Record() *Record {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := *o.rec
	r.setResources(append([]Resource(nil), o.rec.ordered()...))
	return &r
}

// Closed reports whether Close has been called.
func (o *Owner) Closed() bool { return o.closed.Load() }

// Close undoes every step in reverse order of Add: a step's own undo with
// ctx, then its resources' recorded undo with grace (shortened to ctx's
// deadline) for a process's SIGTERM → SIGKILL. It runs once; later calls
// return the first call's result. It joins every error. The record is
// deleted once every recorded resource is gone; otherwise it is saved with
// those whose undo failed, for `vcbench cleanup`.
func (o *Owner) Close(ctx context.Context, grace time.Duration) error {
	o.once.Do(func() {
		o.mu.Lock()
		o.closed.Store(true)
		steps := o.steps
		o.mu.Unlock()
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < grace {
			grace = max(time.Until(dl), 0)
		}
		var errs []error
		var left []Resource
		for i := len(steps) - 1; i >= 0; i-- {
			s := steps[i]
			var serr []error
			if s.undo != nil {
				serr = append(serr, s.undo(ctx))
			}
			for j := len(s.res) - 1; j >= 0; j-- {
				if err := s.res[j].Undo(grace); err != nil {
					serr = append(serr, err)
					left = append([]Resource{s.res[j]}, left...)
				}
			}
			errs = append(errs, serr...)
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		if len(left) > 0 {
			// Keep what is left on disk for `vcbench cleanup`.
			o.rec.setResources(left)
			errs = append(errs, o.save())
		} else if err := o.rec.Delete(); err != nil {
			errs = append(errs, fmt.Errorf("delete state record of %s: %w", o.rec.Instance, err))
		}
		o.err = errors.Join(errs...)
	})
	return o.err
}
