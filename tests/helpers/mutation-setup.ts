import { resolve, sep } from 'node:path';

/**
 * setupFilesAfterEnv of the one-project jest config Stryker runs (mutation-jest.config.js): for each
 * test file, exactly what its own project in jest.config.js sets up (the integration project's
 * harness and Stripe mock, the unit project's secret check), read from jest.config.js itself.
 */
interface Project {
  displayName: string;
  roots: string[];
  setupFilesAfterEnv?: string[];
}

const rootDir = resolve(__dirname, '..', '..');
const fromRoot = (file: string) => resolve(file.replace('<rootDir>', rootDir));
const { projects } = require('../../jest.config.js') as { projects: Project[] };

const testPath = expect.getState().testPath ?? '';
const project = projects.find((p) => p.roots.some((root) => testPath.startsWith(fromRoot(root) + sep)));
if (!project) throw new Error(`mutation-setup: ${testPath} is in no project of jest.config.js`);
for (const file of project.setupFilesAfterEnv ?? []) require(fromRoot(file));
