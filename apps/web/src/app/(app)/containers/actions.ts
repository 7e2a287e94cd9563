/** Container actions as the pages offer them: labels, and which apply in which state. */
export type Action = 'start' | 'stop' | 'restart' | 'kill' | 'pause' | 'unpause' | 'remove';

export const actionLabels: Record<Action, string> = {
  start: 'Start',
  stop: 'Stop',
  restart: 'Restart',
  kill: 'Kill',
  pause: 'Pause',
  unpause: 'Unpause',
  remove: 'Remove',
};

/** The actions that make sense in a state, as Docker allows them (remove forces, as `docker rm -f`). */
export function actionsFor(state: string): Action[] {
  switch (state) {
    case 'running':
      return ['stop', 'restart', 'kill', 'pause', 'remove'];
    case 'paused':
      return ['unpause', 'stop', 'kill', 'remove'];
    case 'restarting':
      return ['stop', 'kill', 'remove'];
    default:
      return ['start', 'remove'];
  }
}
