import type { ProjectDto } from '@ccl/contracts';
import { COLUMNS, columnsSetting } from '../../lib/board.ts';

const showName = (id: string) => `column_show_${id}`;
const labelName = (id: string) => `column_label_${id}`;

/** Which of the five columns the project's board shows, and what it calls them. Uncontrolled. */
export function BoardColumnsFields({ settings }: { settings: ProjectDto['settings'] }) {
  const chosen = settings.columns;
  return (
    <fieldset className="checks board-columns" aria-describedby="board-columns-hint">
      <legend>Board columns</legend>
      <p id="board-columns-hint" className="hint">
        Untick a column to hide it from this project’s board (its cards stay in it and the board counts them);
        a name replaces the standard one. The order is always Backlog to Done.
      </p>
      {COLUMNS.map((c) => {
        const own = chosen?.find((x) => x.key === c.id);
        return (
          <div key={c.id} className="column-setting" data-column-setting={c.id}>
            <label className="inline">
              <input type="checkbox" name={showName(c.id)} defaultChecked={!chosen || !!own} />
              Show {c.title}
            </label>
            <input
              name={labelName(c.id)}
              aria-label={`Name of the ${c.title} column`}
              placeholder={c.title}
              defaultValue={own?.label ?? ''}
              maxLength={40}
            />
          </div>
        );
      })}
    </fieldset>
  );
}

/** The `columns` setting the fields above hold; undefined for the default (all five, standard names). */
export function columnsFromForm(form: FormData): ProjectDto['settings']['columns'] {
  return columnsSetting(
    COLUMNS.map((c) => ({
      id: c.id,
      shown: form.get(showName(c.id)) === 'on',
      label: String(form.get(labelName(c.id)) ?? ''),
    })),
  );
}
