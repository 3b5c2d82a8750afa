// The ink root: mounts the panel, hands the model ink's writer for the output above it, redraws on change and every second.
import { useStdout } from 'ink';
import { useEffect, useState } from 'react';
import type { LiveModel } from './model.js';
import { Panel } from './Panel.js';

export function App({ model }: { readonly model: LiveModel }) {
  const { stdout, write } = useStdout();
  const [, setTick] = useState(0);
  useEffect(() => {
    const redraw = (): void => setTick((t) => t + 1);
    model.attach(write, redraw);
    // Elapsed times move even when nothing happens.
    const clock = setInterval(redraw, 1000);
    clock.unref();
    return () => {
      clearInterval(clock);
      model.detach();
    };
  }, [model, write]);
  if (model.closed) return null;
  return <Panel state={model.state} now={Date.now()} columns={stdout.columns || 80} rows={stdout.rows || 24} title={model.title} />;
}
