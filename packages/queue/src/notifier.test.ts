import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { LISTEN_APPLICATION_NAME } from './listen-connection.ts';
import { createNotifier, type Notifier } from './notifier.ts';
import { deferred, waitFor } from './test-support/async-helpers.ts';
import { adminQuery, createScratchDatabase, type ScratchDatabase } from './test-support/services.ts';

let db: ScratchDatabase;
const opened: Notifier[] = [];
/** Errors reported by notifiers whose test does not expect any. */
const unexpectedErrors: Error[] = [];

beforeAll(async () => {
  db = await createScratchDatabase();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((notifier) => notifier.close()));
  expect(unexpectedErrors.splice(0)).toEqual([]);
});

afterAll(async () => {
  await db.drop();
});

function openNotifier(onError: (err: Error) => void = (err) => unexpectedErrors.push(err)): Notifier {
  const notifier = createNotifier(db.url, { onError });
  opened.push(notifier);
  return notifier;
}

describe('Notifier', { timeout: 20_000 }, () => {
  test('delivers a published payload to a subscriber', async () => {
    const notifier = openNotifier();
    const received = deferred<string>();
    await notifier.subscribe('execution:1', (payload) => received.resolve(payload));
    await notifier.publish('execution:1', '{"type":"status","status":"RUNNING"}');
    expect(await received.promise).toBe('{"type":"status","status":"RUNNING"}');
  });

  test("reaches another notifier's subscribers, and only on the published channel", async () => {
    const publisher = openNotifier();
    const subscriber = openNotifier();
    const received: string[] = [];
    await subscriber.subscribe('board', (payload) => received.push(payload));
    await subscriber.subscribe('elsewhere', (payload) => received.push(`elsewhere:${payload}`));
    await publisher.publish('board', 'moved');
    await waitFor('delivery', () => received.length > 0);
    expect(received).toEqual(['moved']);
  });

  test('two subscribers share a channel; unsubscribe stops only one', async () => {
    const notifier = openNotifier();
    const first: string[] = [];
    const second: string[] = [];
    const unsubscribeFirst = await notifier.subscribe('cancels', (payload) => first.push(payload));
    await notifier.subscribe('cancels', (payload) => second.push(payload));

    await notifier.publish('cancels', 'a');
    await waitFor('both deliveries', () => first.length === 1 && second.length === 1);

    await unsubscribeFirst();
    await unsubscribeFirst();
    await notifier.publish('cancels', 'b');
    await waitFor('second delivery', () => second.length === 2);
    expect(first).toEqual(['a']);
    expect(second).toEqual(['a', 'b']);
  });

  test('many published at once arrive, all of them and in the order they were published', async () => {
    const publisher = openNotifier();
    const listener = openNotifier();
    const received: string[] = [];
    await listener.subscribe('burst-a', (payload) => received.push(`a${payload}`));
    await listener.subscribe('burst-b', (payload) => received.push(`b${payload}`));
    const sent: string[] = [];
    const publishing: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) {
      const channel = i % 3 === 0 ? 'burst-b' : 'burst-a';
      sent.push(`${channel.at(-1)}${i}`);
      publishing.push(publisher.publish(channel, String(i)));
    }
    await Promise.all(publishing);
    await waitFor('all 300', () => received.length === 300);
    expect(received).toEqual(sent);
  });

  test('close sends what was published before it', async () => {
    const publisher = createNotifier(db.url, { onError: (err) => unexpectedErrors.push(err) });
    const listener = openNotifier();
    const received: string[] = [];
    await listener.subscribe('before-close', (payload) => received.push(payload));
    const publishing = Array.from({ length: 50 }, (_, i) => publisher.publish('before-close', String(i)));
    await publisher.close();
    await Promise.all(publishing);
    await waitFor('all 50', () => received.length === 50);
  });

  test('the last unsubscribe UNLISTENs the channel', async () => {
    const notifier = openNotifier();
    const received: string[] = [];
    const unsubscribe = await notifier.subscribe('short-lived', (payload) => received.push(payload));
    await unsubscribe();
    await notifier.subscribe('marker', (payload) => received.push(payload));
    await notifier.publish('short-lived', 'lost');
    await notifier.publish('marker', 'seen');
    // NOTIFYs from one session arrive in order, so the marker proves the first one was not delivered.
    await waitFor('marker', () => received.length > 0);
    expect(received).toEqual(['seen']);
  });

  test('rejects payloads of 8000 bytes or more and bad channel names', async () => {
    const notifier = openNotifier();
    await expect(notifier.publish('big', 'x'.repeat(8000))).rejects.toThrow(/8000 bytes.*less than 8000/);
    await notifier.publish('big', 'x'.repeat(7999));
    await expect(notifier.publish('', 'x')).rejects.toThrow(/channel/);
    await expect(notifier.subscribe('c'.repeat(64), () => {})).rejects.toThrow(/channel/);
  });

  test('re-LISTENs every channel after the LISTEN connection is terminated', async () => {
    const errors: Error[] = [];
    const notifier = openNotifier((err) => errors.push(err));
    const publisher = openNotifier();
    const received: Record<string, string[]> = { one: [], two: [] };
    await notifier.subscribe('one', (payload) => received.one?.push(payload));
    await notifier.subscribe('two', (payload) => received.two?.push(payload));
    // Caches kept fresh by notifications hear of the gap: once at the drop, once LISTENing again.
    let gaps = 0;
    notifier.onGap(() => gaps++);

    const terminated = await adminQuery(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2`,
      [new URL(db.url).pathname.slice(1), LISTEN_APPLICATION_NAME],
    );
    // Only the subscribing notifier holds a LISTEN connection; the publisher never subscribed.
    expect(terminated.rowCount).toBe(1);
    await waitFor('the drop to be reported', () => errors.length > 0);
    expect(errors[0]?.message).toMatch(/terminating connection/);

    // Nothing queues a NOTIFY for a session that is not yet listening, so publish until one lands.
    await waitFor('delivery after reconnect', async () => {
      await publisher.publish('one', 'again');
      await publisher.publish('two', 'again');
      return (received.one?.length ?? 0) > 0 && (received.two?.length ?? 0) > 0;
    });
    expect(gaps).toBe(2);
  });

  test('a failing listener is reported without starving the others', async () => {
    const errors: Error[] = [];
    const notifier = openNotifier((err) => errors.push(err));
    const received = deferred<string>();
    await notifier.subscribe('mixed', () => {
      throw new Error('listener bug');
    });
    await notifier.subscribe('mixed', (payload) => received.resolve(payload));
    await notifier.publish('mixed', 'hello');
    expect(await received.promise).toBe('hello');
    expect(errors.map((err) => err.message)).toEqual(['listener bug']);
  });

  test('close() is idempotent and refuses new subscriptions', async () => {
    const notifier = createNotifier(db.url);
    await notifier.subscribe('bye', () => {});
    await Promise.all([notifier.close(), notifier.close()]);
    await expect(notifier.subscribe('bye', () => {})).rejects.toThrow(/closed/);
  });
});
