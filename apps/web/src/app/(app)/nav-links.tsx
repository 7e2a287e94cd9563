'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';

/** The sidebar's links; the current section is marked for the eye and for screen readers. */
export function NavLinks({ links }: { links: ReadonlyArray<readonly [string, string]> }) {
  const pathname = usePathname();
  return (
    <>
      {links.map(([href, label]) => {
        const current = pathname === href || pathname.startsWith(`${href}/`);
        return (
          <Link
            key={href}
            href={href}
            aria-current={current ? 'page' : undefined}
            className={`rounded px-3 py-1.5 text-sm ${
              current
                ? 'bg-slate-100 font-medium text-slate-950 dark:bg-slate-800 dark:text-white'
                : 'text-slate-700 hover:bg-slate-50 hover:text-slate-950 dark:text-slate-300 dark:hover:bg-slate-800 dark:hover:text-white'
            }`}
          >
            {label}
          </Link>
        );
      })}
    </>
  );
}
