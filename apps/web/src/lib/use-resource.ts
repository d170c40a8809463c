import { useCallback, useEffect, useRef, useState } from 'react';
import { adviceFor } from './api.ts';

export interface Resource<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload: () => void;
  /** Local edits (optimistic updates, live events) without a round trip. */
  setData: (update: (prev: T | undefined) => T | undefined) => void;
}

/** Loads once per value of `key`; a slower earlier answer never overwrites a newer one. */
export function useResource<T>(load: () => Promise<T>, key = ''): Resource<T> {
  const [data, setDataState] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  // The latest loader, so `run` changes only with the key, not with each render's new closure.
  const loader = useRef(load);
  loader.current = load;
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new key means new data to load.
  const run = useCallback(() => {
    const mine = ++generation.current;
    setLoading(true);
    setError(null);
    loader.current().then(
      (value) => {
        if (mine !== generation.current) return;
        setDataState(value);
        setLoading(false);
      },
      (err: unknown) => {
        if (mine !== generation.current) return;
        setError(adviceFor(err));
        setLoading(false);
      },
    );
  }, [key]);
  useEffect(() => {
    run();
  }, [run]);
  const setData = useCallback((update: (prev: T | undefined) => T | undefined) => setDataState(update), []);
  return { data, error, loading, reload: run, setData };
}

/** Re-renders every `ms` while `on`, for clocks such as elapsed time. */
export function useTick(ms: number, on = true): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms, on]);
  return now;
}
