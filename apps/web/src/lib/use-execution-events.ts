import type { ExecutionEventDto } from '@ccl/contracts';
import { useEffect, useRef, useState } from 'react';
import { openEventStream } from './sse.ts';

export interface LiveEvents {
  events: ExecutionEventDto[];
  ended: boolean;
  /** Shown while a dropped stream is being resumed. */
  reconnects: number;
  error: string | null;
}

/**
 * The execution's events from its SSE stream; reconnects resume after the last
 * received id (Last-Event-ID), so nothing repeats and nothing is skipped.
 * `onChange` fires for events that change the execution row (state, usage, end).
 */
export function useExecutionEvents(executionId: string, onChange: () => void): LiveEvents {
  const [state, setState] = useState<LiveEvents>({ events: [], ended: false, reconnects: 0, error: null });
  const changed = useRef(onChange);
  changed.current = onChange;
  useEffect(() => {
    setState({ events: [], ended: false, reconnects: 0, error: null });
    let batch: ExecutionEventDto[] = [];
    let flush: ReturnType<typeof setTimeout> | null = null;
    // Buffer a few ms so a replay of hundreds of events renders once, not hundreds of times.
    const push = (ev: ExecutionEventDto) => {
      batch.push(ev);
      flush ??= setTimeout(() => {
        const add = batch;
        batch = [];
        flush = null;
        setState((s) => ({ ...s, events: [...s.events, ...add] }));
      }, 30);
    };
    const stream = openEventStream(`/api/executions/${executionId}/events`, {
      endEvent: 'end',
      onOpen: ({ resumed }) => {
        if (resumed) setState((s) => ({ ...s, reconnects: s.reconnects + 1 }));
      },
      onFatal: (err) => setState((s) => ({ ...s, error: err.message })),
      onMessage: (msg) => {
        if (msg.event === 'end') {
          setState((s) => ({ ...s, ended: true }));
          changed.current();
          return;
        }
        const ev = JSON.parse(msg.data) as ExecutionEventDto;
        push(ev);
        if (ev.type === 'state' || ev.type === 'usage') changed.current();
      },
    });
    return () => {
      stream.close();
      if (flush) clearTimeout(flush);
    };
  }, [executionId]);
  return state;
}
