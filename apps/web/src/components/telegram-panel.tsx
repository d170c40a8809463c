import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { type TelegramLinkCodeDto, type TelegramLinkDto, telegram } from '../lib/account-api.ts';
import { formatTime } from '../lib/format.ts';
import { useResource, useTick } from '../lib/use-resource.ts';
import { LoadError, Loading } from './async-view.tsx';
import { ConfirmButton } from './confirm-button.tsx';
import { useToasts } from './toasts.tsx';

/** How often a pending code asks whether the bot has seen it yet. */
const POLL_MS = 5000;

const at = (name: string | null) => (name ? `@${name}` : null);

/** "Linked to @alice (Telegram id 42) since …", or why not. */
function statusText(s: TelegramLinkDto, waiting: boolean): string {
  if (!s.enabled) return 'Not available: this server has no Telegram bot.';
  if (s.linked) {
    const who = at(s.linked.username);
    const id = s.linked.telegram_user_id;
    return `Linked to ${who ? `${who} (Telegram id ${id})` : `Telegram id ${id}`} since ${formatTime(s.linked.linked_at)}.`;
  }
  return waiting ? 'Not linked yet: waiting for you to send the code to the bot.' : 'Not linked.';
}

/** "10 more minutes, until 14:32" */
function validity(expiresAt: string, now: number): string {
  const minutes = Math.max(1, Math.ceil((Date.parse(expiresAt) - now) / 60_000));
  const until = new Date(expiresAt).toLocaleTimeString(undefined, { timeStyle: 'short' });
  return `${minutes} more minute${minutes === 1 ? '' : 's'}, until ${until}`;
}

/**
 * My account → Telegram: link the Telegram account that will talk to the bot as you, with a
 * single-use code (a t.me link, or `/start <code>` sent by hand), see the link, unlink it.
 */
export function TelegramPanel() {
  const titleId = useId();
  const toasts = useToasts();
  const status = useResource(telegram.status);
  const [code, setCode] = useState<TelegramLinkCodeDto | null>(null);
  const [busy, setBusy] = useState(false);
  const [checking, setChecking] = useState(false);
  const [notYet, setNotYet] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const panel = useRef<HTMLElement>(null);
  const linked = status.data?.linked ?? null;
  // The tick only re-renders while a code waits; the time itself is read fresh each render.
  useTick(15_000, code !== null);
  const now = Date.now();
  const expired = code !== null && Date.parse(code.expires_at) <= now;
  const waiting = code !== null && !expired && !linked;
  const { setData } = status;

  /** The answer replaces what is shown; a link that appeared ends the code's part. */
  const show = useCallback(
    (next: TelegramLinkDto) => {
      setData(() => next);
      if (next.linked) {
        // The code's buttons go away: keep the keyboard in the panel.
        if (panel.current?.contains(document.activeElement)) heading.current?.focus();
        setCode(null);
        setNotYet(false);
      }
    },
    [setData],
  );

  // While a code waits, look again now and then, and whenever the person comes back from Telegram.
  useEffect(() => {
    if (!waiting) return;
    const poll = () => {
      telegram.status().then(show, () => {
        // "Check again" reports errors; a background look stays quiet.
      });
    };
    const t = setInterval(poll, POLL_MS);
    window.addEventListener('focus', poll);
    return () => {
      clearInterval(t);
      window.removeEventListener('focus', poll);
    };
  }, [waiting, show]);

  const createCode = async () => {
    setBusy(true);
    setNotYet(false);
    try {
      setCode(await telegram.createCode());
    } catch (err) {
      toasts.error('make a Telegram link code', err);
      // 503 not_configured: the bot went away since the page loaded; show that.
      status.reload();
    } finally {
      setBusy(false);
    }
  };

  const check = async () => {
    setChecking(true);
    try {
      const next = await telegram.status();
      show(next);
      setNotYet(!next.linked);
    } catch (err) {
      toasts.error('check the Telegram link', err);
    } finally {
      setChecking(false);
    }
  };

  const unlink = async () => {
    let unlinked: boolean;
    try {
      ({ unlinked } = await telegram.unlink());
    } catch (err) {
      toasts.error('unlink Telegram', err);
      return;
    }
    toasts.info(
      unlinked ? 'Telegram unlinked: the bot no longer acts as you.' : 'No Telegram account was linked.',
    );
    try {
      show(await telegram.status());
    } catch {
      status.reload();
    }
    // The Unlink button goes away with the link.
    heading.current?.focus();
  };

  const data = status.data;
  return (
    <section ref={panel} className="panel telegram" aria-labelledby={titleId} data-testid="telegram-panel">
      <h2 id={titleId} ref={heading} tabIndex={-1}>
        Telegram
      </h2>
      {status.loading && !data && <Loading what="your Telegram link" />}
      {status.error && !data && (
        <LoadError what="your Telegram link" error={status.error} onRetry={status.reload} />
      )}
      {data && (
        <>
          <p className="telegram-status" data-testid="telegram-status" role="status">
            {statusText(data, waiting)}
          </p>
          {!data.enabled && (
            <p className="muted">
              An administrator turns the bot on by setting <code>TELEGRAM_BOT_TOKEN</code> to a token from
              @BotFather and restarting the server; see <code>docs/telegram.md</code>.
            </p>
          )}
          {data.enabled && data.linked && (
            <>
              <p className="muted">
                {at(data.bot_username) ?? 'The bot'} acts as you in that Telegram account: send it{' '}
                <code>/help</code> to see what it can do.
              </p>
              <div className="actions">
                <ConfirmButton
                  label="Unlink"
                  subject={`Telegram account ${at(data.linked.username) ?? data.linked.telegram_user_id}`}
                  onConfirm={unlink}
                />
              </div>
            </>
          )}
          {data.enabled && !data.linked && (
            <>
              <p className="muted">
                Link your Telegram account to follow tasks, answer approvals and start runs from a chat with{' '}
                {at(data.bot_username) ?? 'the bot'}.
              </p>
              {code ? (
                <LinkCode
                  code={code}
                  bot={at(data.bot_username)}
                  expired={expired}
                  now={now}
                  busy={busy}
                  checking={checking}
                  notYet={notYet}
                  onNewCode={createCode}
                  onCheck={check}
                  onCancel={() => {
                    setCode(null);
                    setNotYet(false);
                    heading.current?.focus();
                  }}
                />
              ) : (
                <div className="actions">
                  <button type="button" className="primary" onClick={createCode} disabled={busy}>
                    {busy ? 'Making a code…' : 'Link Telegram'}
                  </button>
                </div>
              )}
            </>
          )}
        </>
      )}
    </section>
  );
}

interface LinkCodeProps {
  code: TelegramLinkCodeDto;
  bot: string | null;
  expired: boolean;
  now: number;
  busy: boolean;
  checking: boolean;
  notYet: boolean;
  onNewCode: () => void;
  onCheck: () => void;
  onCancel: () => void;
}

/** The code's two ways to the bot, how long it lasts, and "Check again". */
function LinkCode(props: LinkCodeProps) {
  const { code } = props;
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const focusFirst = () => box.current?.querySelector<HTMLElement>('a, button')?.focus();
  // The button that had focus is gone: continue at the first step (the link, or Copy).
  // biome-ignore lint/correctness/useExhaustiveDependencies: each new code starts over.
  useEffect(() => {
    focusFirst();
    setCopied(null);
  }, [code.code]);
  // Expiry swaps the buttons; only a focus that went with them is moved.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the code expires.
  useEffect(() => {
    if (props.expired && document.activeElement === document.body) focusFirst();
  }, [props.expired]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(code.command);
      setCopied('yes');
    } catch {
      setCopied('failed');
    }
  };
  const bot = props.bot ?? 'the bot';
  if (props.expired) {
    return (
      <div className="telegram-code" ref={box}>
        <p className="warning">
          <span aria-hidden="true">⚠ </span>The code expired before {bot} received it.
        </p>
        <div className="actions">
          <button type="button" className="primary" onClick={props.onNewCode} disabled={props.busy}>
            {props.busy ? 'Making a code…' : 'New code'}
          </button>
          <button type="button" onClick={props.onCheck} disabled={props.checking}>
            {props.checking ? 'Checking…' : 'Check again'}
          </button>
        </div>
      </div>
    );
  }
  return (
    <div className="telegram-code" ref={box}>
      <ol className="telegram-steps">
        {code.deep_link && (
          <li>
            <a
              className="button primary"
              href={code.deep_link}
              target="_blank"
              rel="noopener noreferrer"
              data-testid="telegram-deep-link"
            >
              Open in Telegram<span className="visually-hidden"> (opens a new tab)</span>
            </a>{' '}
            and press <strong>Start</strong>.
          </li>
        )}
        <li>
          {code.deep_link ? 'Or send' : 'Send'} {bot} this message in a private chat:
          <div className="actions telegram-command">
            <code data-testid="telegram-link-command">{code.command}</code>
            <button type="button" onClick={copy}>
              Copy<span className="visually-hidden"> the message</span>
            </button>
            <span role="status">
              {copied === 'yes' && 'Copied.'}
              {copied === 'failed' && 'Copying is blocked here: select the message and copy it by hand.'}
            </span>
          </div>
        </li>
        <li>Come back here: the page notices the link, or press Check again.</li>
      </ol>
      <p className="hint">
        The code works once and is valid for {validity(code.expires_at, props.now)}. A new code replaces it.
      </p>
      <div className="actions">
        <button type="button" onClick={props.onCheck} disabled={props.checking}>
          {props.checking ? 'Checking…' : 'Check again'}
        </button>
        <button type="button" onClick={props.onNewCode} disabled={props.busy}>
          New code
        </button>
        <button type="button" className="link-button" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
      <p role="status">
        {props.notYet && `Not linked yet: send the message to ${bot} first, then check again.`}
      </p>
    </div>
  );
}
