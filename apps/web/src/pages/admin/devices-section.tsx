import type { ApprovedDeviceDto, DeviceDto } from '@ccl/contracts';
import { useState } from 'react';
import { Empty, LoadError, Loading } from '../../components/async-view.tsx';
import { ConfirmButton } from '../../components/confirm-button.tsx';
import { ShownOnce } from '../../components/shown-once.tsx';
import { useToasts } from '../../components/toasts.tsx';
import { devices } from '../../lib/admin-api.ts';
import { formatTime } from '../../lib/format.ts';
import { useSession } from '../../lib/session.tsx';
import { useResource } from '../../lib/use-resource.ts';

const ORDER = { pending: 0, approved: 1, revoked: 2 } as const;

/** Requests waiting for a decision first (oldest first: they have waited longest), then the rest. */
export function sortDevices(list: DeviceDto[]): DeviceDto[] {
  return [...list].sort(
    (a, b) =>
      ORDER[a.state] - ORDER[b.state] ||
      (a.state === 'pending'
        ? a.requested_at.localeCompare(b.requested_at)
        : b.requested_at.localeCompare(a.requested_at)),
  );
}

/** The only time a device's secret is shown: its base URL, to copy into CoderClaw's configuration. */
function NewBaseUrl({ approved, onDone }: { approved: ApprovedDeviceDto; onDone: () => void }) {
  return (
    <ShownOnce
      testId="device-base-url"
      title={
        <>
          Device {approved.device_id} of {approved.user_id} approved
        </>
      }
      warning={
        <>
          Give this base URL to the device’s CoderClaw (its adapter’s <code>baseUrl</code>) now. It carries
          the device’s secret and is shown only this once; names alone open no session. If it is lost, approve
          the device again for a new one.
        </>
      }
      value={approved.base_url}
      valueLabel="The device's base URL"
      noun="URL"
      doneLabel="I have passed it on"
      onDone={onDone}
    />
  );
}

export function DevicesSection() {
  const { can } = useSession();
  const toasts = useToasts();
  const list = useResource(devices.list);
  const everyone = can('device:approve');
  const [approved, setApproved] = useState<ApprovedDeviceDto | null>(null);

  const replaceRow = (row: DeviceDto) =>
    list.setData((prev) => prev?.map((x) => (x.id === row.id ? row : x)));
  const approve = async (d: DeviceDto) => {
    try {
      const answer = await devices.approve(d.id);
      // The secret stays in the one-time panel, never in the list.
      const { secret: _secret, base_url: _baseUrl, ...row } = answer;
      replaceRow(row);
      setApproved(answer);
    } catch (err) {
      toasts.error(`approve device ${d.device_id}`, err);
    }
  };
  const revoke = async (d: DeviceDto) => {
    try {
      replaceRow(await devices.revoke(d.id));
      toasts.info(`Device ${d.device_id} of ${d.user_id} revoked: its secret and sessions stopped working.`);
    } catch (err) {
      toasts.error(`revoke device ${d.device_id}`, err);
    }
  };

  const sorted = sortDevices(list.data ?? []);
  const pending = sorted.filter((d) => d.state === 'pending');
  const decided = sorted.filter((d) => d.state !== 'pending');
  const table = (rows: DeviceDto[], caption: string, testId: string) => (
    <div className="table-wrap">
      <table data-testid={testId}>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Device</th>
            <th scope="col">User</th>
            <th scope="col">State</th>
            <th scope="col">Asked</th>
            <th scope="col">From</th>
            <th scope="col">Last seen</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((d) => (
            <tr key={d.id} data-device-id={d.id} data-state={d.state}>
              <td>
                <code>{d.device_id}</code>
              </td>
              <td>{d.user_id}</td>
              <td>
                {d.state}
                {d.decided_by && d.decided_at && (
                  <span className="muted">
                    {' '}
                    by {d.decided_by}, {formatTime(d.decided_at)}
                  </span>
                )}
              </td>
              <td>{formatTime(d.requested_at)}</td>
              <td>{d.request_ip ?? '—'}</td>
              <td>{d.last_seen_at ? formatTime(d.last_seen_at) : 'never'}</td>
              <td>
                <div className="actions">
                  {d.state === 'pending' && (
                    <button
                      type="button"
                      className="primary"
                      aria-label={`Approve device ${d.device_id} of ${d.user_id}`}
                      onClick={() => void approve(d)}
                    >
                      Approve
                    </button>
                  )}
                  {d.state === 'approved' && (
                    <ConfirmButton
                      label="New base URL"
                      subject={`for device ${d.device_id} of ${d.user_id} (the current one stops working)`}
                      onConfirm={() => approve(d)}
                    />
                  )}
                  {d.state !== 'revoked' && (
                    <ConfirmButton
                      label={d.state === 'pending' ? 'Refuse' : 'Revoke'}
                      subject={`device ${d.device_id} of ${d.user_id}`}
                      onConfirm={() => revoke(d)}
                    />
                  )}
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );

  return (
    <section aria-labelledby="devices-title">
      <div className="page-head">
        <h1 id="devices-title">Devices</h1>
        <button type="button" onClick={list.reload} disabled={list.loading}>
          Check again
        </button>
      </div>
      <p className="muted">
        A CoderClaw adapter that sends a user and a device name asks to pair as that user’s device. Approving
        it shows, once, a base URL with the device’s secret: with that as its <code>baseUrl</code> it gets
        runtime sessions; the names alone never do.{' '}
        {everyone ? 'You see everyone’s devices.' : 'You see your own devices.'}
      </p>
      {approved && <NewBaseUrl approved={approved} onDone={() => setApproved(null)} />}
      {list.loading && !list.data && <Loading what="devices" />}
      {list.error && <LoadError what="devices" error={list.error} onRetry={list.reload} />}
      {list.data && (
        <>
          <h2>Awaiting pairing ({pending.length})</h2>
          {pending.length ? (
            table(pending, 'Devices awaiting approval, oldest request first', 'pending-devices')
          ) : (
            <Empty>No device is waiting for approval.</Empty>
          )}
          <h2>Paired and revoked</h2>
          {decided.length ? (
            table(decided, 'Devices already decided', 'decided-devices')
          ) : (
            <Empty>No device has been paired yet.</Empty>
          )}
        </>
      )}
    </section>
  );
}
