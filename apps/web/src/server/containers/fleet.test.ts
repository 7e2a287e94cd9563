import { Prisma } from '@berth/db/client';
import { describe, expect, it } from 'vitest';
import { labelConditions, likePattern } from './fleet';
import { fleetListInput, parseLabelFilter } from './schemas';

describe('fleet list filters', () => {
  it('takes % _ and \\ typed by a person literally', () => {
    expect(likePattern('web')).toBe('%web%');
    expect(likePattern('50%_off\\')).toBe('%50\\%\\_off\\\\%');
  });

  it('reads label filters as docker ps does: key, or key=value (the value may hold =)', () => {
    expect(parseLabelFilter('tier')).toEqual({ key: 'tier' });
    expect(parseLabelFilter('app=web')).toEqual({ key: 'app', value: 'web' });
    expect(parseLabelFilter('expr=a=b')).toEqual({ key: 'expr', value: 'a=b' });
    expect(parseLabelFilter('empty=')).toEqual({ key: 'empty', value: '' });
    const parsed = fleetListInput.safeParse({
      teamId: '00000000-0000-4000-8000-000000000000',
      labels: ['=x'],
    });
    expect(parsed.success).toBe(false);
  });

  it('turns key=value into containment and key into presence, values bound as parameters', () => {
    const [value, presence] = labelConditions(Prisma.sql`c."labels"`, ["app=it's", 'tier']);
    expect(value?.sql).toBe('c."labels" @> ?::jsonb');
    expect(value?.values).toEqual([JSON.stringify({ app: "it's" })]);
    expect(presence?.sql).toBe('jsonb_exists(c."labels", ?)');
    expect(presence?.values).toEqual(['tier']);
  });
});
