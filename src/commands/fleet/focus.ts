import { defineCommand } from '../types';

export default defineCommand({
  id: 'nixfleet.focus',
  title: 'Focus Fleet View',
  mutating: false,
  async run(c) {
    await c.editor.executeCommand('nixfleet.fleet.focus');
  },
});
